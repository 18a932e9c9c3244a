#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Options for opening an input.
public struct SourceOptions: Sendable {
    /// Controller number (`nvme<N>`) given to events of inputs that do not name the device
    /// (QEMU logs, QEMU events carried in ftrace markers).
    public var controller: UInt16
    /// Events per `nextBatch` (at most).
    public var batchSize: Int
    /// Settings of the binary readers (pcap link types, QEMU trace-events layouts).
    public var binary = BinarySourceOptions()
    /// Threads decoding one text input (ftrace text, QEMU log) in segments; 1 decodes on the
    /// caller's thread. The events and summary are the same either way.
    public var decodeThreads = SourceOptions.defaultDecodeThreads
    /// Bytes per segment when decoding a memory-mapped file on several threads.
    public var segmentSize = 2 << 20
    /// Bytes per segment when decoding a pipe or standard input on several threads: at most
    /// what the pipe holds (1 MiB), so a worker's read does not wait for the writer to refill it
    /// (`cat FILE | shadowbell analyze -` took 15 % longer with 2 MiB segments).
    public var streamSegmentSize = 512 << 10

    /// One decoding thread per online CPU, at most 4.
    public static let defaultDecodeThreads: Int = {
        let online = sysconf(Int32(_SC_NPROCESSORS_ONLN))
        return online > 1 ? min(Int(online), 4) : 1
    }()

    public init(controller: UInt16 = 0, batchSize: Int = 4096) {
        self.controller = controller
        self.batchSize = max(batchSize, 1)
    }
}
