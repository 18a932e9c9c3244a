/// What a run ran on, as its files tell it: the guest kernel (the console's `Linux version`
/// banner), the QEMU version (a `QEMU emulator version` line) and command line, and which
/// generation of QEMU's NVMe event names its trace uses. Every member is nil when no file says.
/// Stored in the report so that a fleet summary can group runs by them.
public struct RunEnvironment: Sendable, Equatable {
    /// The QEMU hw/nvme event names a trace uses (inputs.md §2).
    public enum QemuEventNames: String, Sendable, CaseIterable {
        /// `pci_nvme_shadow_doorbell_*`, `pci_nvme_eventidx_sq`: QEMU 7.1 and 7.2.
        case qemu71To72 = "7.1-7.2"
        /// `pci_nvme_update_sq_tail`, `pci_nvme_update_*_eventidx`: QEMU 8.0 and later.
        case qemu80Plus = "8.0+"
        /// Both generations in one run (traces of two builds analysed together).
        case mixed
    }

    /// `6.1.0-56-amd64`: the release word of the guest's `Linux version` banner.
    public var guestKernel: String?
    /// The path of the file the banner was found in.
    public var guestKernelSource: String?
    /// `7.2.22`: the word after `QEMU emulator version`.
    public var qemuVersion: String?
    public var qemuVersionSource: String?
    public var qemuEventNames: QemuEventNames?
    /// `qemu-system-x86_64`: the program of a QEMU command line found in the run's files.
    public var qemuBinary: String?
    /// The `-machine`/`-M` type of that command line (`q35`, `pc-q35-8.2`), up to the first comma.
    public var qemuMachine: String?

    public init() {}

    public var isEmpty: Bool { self == RunEnvironment() }
}
