// swift-tools-version: 6.1
// Benchmark tools for ShadowBell, kept out of the main package so `swift build` and
// `swift test` stay lean. Run everything with `Benchmarks/run.sh` (see Docs/Performance.md).
import PackageDescription

let package = Package(
    name: "ShadowBellBenchmarks",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "pcap-loop", targets: ["PcapLoop"]),
        .executable(name: "pipe-drain", targets: ["PipeDrain"]),
        .executable(name: "log2simple", targets: ["log2simple"]),
        .executable(name: "sbbench", targets: ["sbbench"]),
        .library(name: "MallocCount", type: .dynamic, targets: ["MallocCount"]),
    ],
    dependencies: [
        .package(name: "ShadowBell", path: ".."),
    ],
    targets: [
        // The libpcap baseline: pcap_next_ex over every record, touching each byte.
        .executableTarget(name: "PcapLoop", linkerSettings: [.linkedLibrary("pcap")]),
        // The standard-input baseline: a pipe read to its end with 1 MiB reads, newlines counted.
        .executableTarget(name: "PipeDrain"),
        // LD_PRELOAD shim counting malloc/calloc/realloc/memalign calls.
        .target(name: "MallocCount", linkerSettings: [.linkedLibrary("dl")]),
        // QEMU log → QEMU simple trace (format 4), for simple-trace inputs of any size.
        .executableTarget(
            name: "log2simple",
            dependencies: [
                .product(name: "ShadowBellAnalysis", package: "ShadowBell"),
                .product(name: "ShadowBellFormats", package: "ShadowBell"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),
        // In-process measurements: time to first finding, allocations per event.
        .executableTarget(
            name: "sbbench",
            dependencies: [
                .product(name: "ShadowBellAnalysis", package: "ShadowBell"),
                .product(name: "ShadowBellFormats", package: "ShadowBell"),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
