// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "ShadowBell",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "shadowbell", targets: ["shadowbell"]),
        .library(name: "ShadowBellAnalysis", targets: ["ShadowBellAnalysis"]),
        // The input readers, for tools built on the library (Benchmarks/: sbbench, log2simple).
        .library(name: "ShadowBellFormats", targets: ["ShadowBellFormats"]),
        .library(name: "ShadowBellSimulator", targets: ["ShadowBellSimulator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // Value types and byte-level primitives. No Foundation, no C.
        .target(name: "ShadowBellCore"),
        // Input formats: framing, decoding, format detection.
        // Readers keep per-record state in classes (libpcap, simple-trace records): their stored
        // properties are `@exclusivity(unchecked)`, so the hot path makes no dynamic exclusivity
        // checks (Docs/Performance.md). No unsafe flags: the package can be a dependency.
        .target(
            name: "ShadowBellFormats", dependencies: ["ShadowBellCore", "CPcap", "CTraceCmd", "CZlib", "CZstd", "CLzma"]),
        // libpcap, for reading pcap/pcapng and writing pcap.
        .systemLibrary(
            name: "CPcap",
            pkgConfig: "libpcap",
            providers: [.apt(["libpcap-dev"])]
        ),
        // libtraceevent, for the event format descriptions of trace-cmd files (trace.dat; the
        // file itself is parsed by ShadowBell), found through libtracecmd's pkg-config file,
        // which requires libtracefs.
        .systemLibrary(
            name: "CTraceCmd",
            pkgConfig: "libtracecmd",
            providers: [.apt(["libtracecmd-dev", "libtraceevent-dev", "libtracefs-dev"])]
        ),
        // zlib, libzstd and liblzma: gzip, zstd and xz inputs, decompressed while they are read.
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        // Merge, per-queue state machines, detectors, statistics.
        // The analyzer is one class whose state every event touches: dynamic exclusivity checks
        // on its stored properties cost a sixth of a text trace's analysis, so they are
        // `@exclusivity(unchecked)` (Docs/Performance.md).
        .target(name: "ShadowBellAnalysis", dependencies: ["ShadowBellCore"]),
        // Report model and renderers.
        .target(name: "ShadowBellReport", dependencies: ["ShadowBellCore", "ShadowBellAnalysis"]),
        // Seeded discrete-event model of the protocol; writes labelled traces.
        .target(name: "ShadowBellSimulator", dependencies: ["ShadowBellCore"]),
        .executableTarget(
            name: "shadowbell",
            dependencies: [
                "ShadowBellCore", "ShadowBellFormats", "ShadowBellAnalysis", "ShadowBellReport",
                "ShadowBellSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Helpers shared by the test targets (pipes to and from child processes, scratch folders).
        .target(name: "ShadowBellTestSupport", path: "Tests/ShadowBellTestSupport"),
        .testTarget(name: "ShadowBellCoreTests", dependencies: ["ShadowBellCore"]),
        .testTarget(
            name: "ShadowBellFormatsTests", dependencies: ["ShadowBellCore", "ShadowBellFormats", "ShadowBellTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(
            name: "ShadowBellAnalysisTests",
            dependencies: ["ShadowBellCore", "ShadowBellAnalysis", "ShadowBellFormats", "ShadowBellSimulator"]),
        .testTarget(
            name: "ShadowBellReportTests",
            dependencies: ["ShadowBellCore", "ShadowBellAnalysis", "ShadowBellReport", "ShadowBellTestSupport"],
            exclude: ["Fixtures"]),
        .testTarget(name: "ShadowBellSimulatorTests", dependencies: ["ShadowBellCore", "ShadowBellSimulator", "ShadowBellTestSupport"]),
        // The analyzer checked against the simulator's ground truth.
        .testTarget(
            name: "ShadowBellCrossCheckTests",
            dependencies: [
                "ShadowBellCore", "ShadowBellSimulator", "ShadowBellAnalysis", "ShadowBellFormats", "ShadowBellReport",
                "ShadowBellTestSupport",
            ]),
        .testTarget(
            name: "ShadowBellCLITests",
            dependencies: [
                "shadowbell", "ShadowBellCore", "ShadowBellFormats", "ShadowBellAnalysis", "ShadowBellReport",
                "ShadowBellSimulator", "ShadowBellTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
    ]
)
