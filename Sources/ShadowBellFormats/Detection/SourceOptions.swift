/// Options for opening an input.
public struct SourceOptions: Sendable {
    /// Controller number (`nvme<N>`) given to events of inputs that do not name the device
    /// (QEMU logs, QEMU events carried in ftrace markers).
    public var controller: UInt16
    /// Events per `nextBatch` (at most).
    public var batchSize: Int
    /// Settings of the binary readers (pcap link types, QEMU trace-events layouts).
    public var binary = BinarySourceOptions()

    public init(controller: UInt16 = 0, batchSize: Int = 4096) {
        self.controller = controller
        self.batchSize = max(batchSize, 1)
    }
}
