// swift-tools-version:6.0
import Foundation
import PackageDescription

// libFuzzer harnesses for Sluice's parsers, one executable per area. Each defines
// `LLVMFuzzerTestOneInput`; libFuzzer supplies `main`. Build and run them with
// `scripts/soak.d/fuzz` (it passes `--sanitize=fuzzer -Xswiftc -parse-as-library`).
//
// The main package is a path dependency; SwiftPM names it after its directory
// (lower-cased), so the name is worked out here rather than written down.
let sluice = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let sluicePackage = sluice.lastPathComponent.lowercased()

let core: Target.Dependency = .product(name: "SluiceCore", package: sluicePackage)
let providers: Target.Dependency = .product(name: "SluiceProviders", package: sluicePackage)

let package = Package(
    name: "SluiceFuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(path: ".."),
    ],
    targets: [
        // JSONScanner and APIRequest (every operation), with round-trip checks.
        .executableTarget(name: "FuzzJSON", dependencies: [core]),
        // ConfigLoader on arbitrary YAML, with a secret resolver that reads nothing.
        .executableTarget(name: "FuzzConfig", dependencies: [core]),
        // The requests and provider configurations the provider harnesses share.
        .target(name: "FuzzSupport", dependencies: [core, providers]),
        // Every provider's whole-answer and error parsers, and the surfaces' re-shaping.
        .executableTarget(name: "FuzzProviders", dependencies: ["FuzzSupport", core, providers]),
        // Every provider's stream translator, chained as the pipeline chains them, and the
        // SSE and AWS event-stream framers.
        .executableTarget(name: "FuzzStreams", dependencies: ["FuzzSupport", core, providers]),
        // Client request bodies through every provider's request translation.
        .executableTarget(name: "FuzzRequests", dependencies: [core, providers]),
    ],
    swiftLanguageModes: [.v6]
)
