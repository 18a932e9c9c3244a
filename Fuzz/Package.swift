// swift-tools-version: 6.1
// libFuzzer targets for ShadowBell's decoders and analyzer (Docs/Reliability.md). A package of
// its own so that `swift build` and `swift test` of the main package stay as they are; its
// library targets are the main package's sources, reached through symbolic links.
// Build and run with Fuzz/run.sh; a fuzzing build needs `--sanitize=fuzzer`.
import PackageDescription

let package = Package(
    name: "ShadowBellFuzz",
    platforms: [.macOS(.v13)],
    targets: [
        .target(name: "ShadowBellCore"),
        .target(name: "ShadowBellFormats", dependencies: ["ShadowBellCore", "CPcap", "CTraceCmd", "CZlib", "CZstd", "CLzma"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLzma", pkgConfig: "liblzma", providers: [.apt(["liblzma-dev"])]),
        .systemLibrary(name: "CPcap", pkgConfig: "libpcap", providers: [.apt(["libpcap-dev"])]),
        .systemLibrary(
            name: "CTraceCmd", pkgConfig: "libtracecmd",
            providers: [.apt(["libtracecmd-dev", "libtraceevent-dev", "libtracefs-dev"])]),
        .target(name: "ShadowBellAnalysis", dependencies: ["ShadowBellCore"]),
        .target(name: "ShadowBellReport", dependencies: ["ShadowBellCore", "ShadowBellAnalysis"]),
        // One binary for every target: `SHADOWBELL_FUZZ_TARGET` names the one to run.
        .executableTarget(
            name: "shadowbell-fuzz",
            dependencies: ["ShadowBellCore", "ShadowBellFormats", "ShadowBellAnalysis", "ShadowBellReport"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
    ]
)
