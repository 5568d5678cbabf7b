// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        // The mock provider, for offline use and tests; not part of the production binary.
        .executable(name: "sluice-mock", targets: ["sluice-mock"]),
        // What libfcgi and libcurl cost alone on this machine (`scripts/bench --floor`).
        .executable(name: "sluice-floor", targets: ["sluice-floor"]),
        // The pure libraries, for the fuzzing harness in Fuzz/ (a separate package).
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluiceProviders", targets: ["SluiceProviders"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // C libraries from Debian, each behind a module map and a few one-line shims
        // for the calls Swift cannot make (variadic functions, char-array fields).
        .systemLibrary(name: "CFastCGI", path: "Sources/CFastCGI"),
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl",
                       providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CHiredis", path: "Sources/CHiredis"),
        .systemLibrary(name: "CPostgres", path: "Sources/CPostgres", pkgConfig: "libpq",
                       providers: [.apt(["libpq-dev"])]),
        // glibc's <malloc.h> (mallopt, malloc_trim): the worker's memory policy.
        .systemLibrary(name: "CLinux", path: "Sources/CLinux"),
        // RE2 (C++, Debian's libre2-dev) behind a three-function C face: guardrail patterns
        // are matched in time linear in the text (glibc's regexec is quadratic on hostile
        // input: 3.4 s for 40 kB of letters against [a-z]+@[a-z]+).
        .target(name: "CRE2", path: "Sources/CRE2", linkerSettings: [.linkedLibrary("re2")]),

        // No I/O; no C but RE2's matcher for guardrail patterns.
        .target(name: "SluiceCore", dependencies: [
            "CRE2",
            .product(name: "Yams", package: "Yams"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .target(name: "SluiceProviders", dependencies: ["SluiceCore"]),

        // Adapters: the only code that imports C.
        .target(name: "SluiceFastCGI", dependencies: ["CFastCGI", "SluiceCore"]),
        .target(name: "SluiceHTTP", dependencies: ["CCurl", "SluiceCore"]),
        .target(name: "SluiceRedis", dependencies: ["CHiredis", "SluiceCore"]),
        .target(name: "SluicePostgres", dependencies: ["CPostgres"]),

        // The request pipeline and the process pool.
        .target(name: "SluiceGateway", dependencies: [
            "SluiceCore", "SluiceProviders", "SluiceFastCGI", "SluiceHTTP", "SluiceRedis", "CLinux",
            .product(name: "Logging", package: "swift-log"),
        ]),
        // Operator tools outside the request path: audit tail, verify and drain (files,
        // PostgreSQL), usage and budget reports.
        .target(name: "SluiceOps", dependencies: [
            "SluiceGateway", "SluiceCore", "SluiceRedis", "SluicePostgres",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // A deterministic OpenAI-wire-format server for offline use and tests.
        .target(name: "SluiceMockProvider", dependencies: ["SluiceCore", "SluiceProviders"]),

        .executableTarget(name: "sluice", dependencies: [
            "SluiceGateway", "SluiceOps", "SluiceCore", "SluiceRedis",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .executableTarget(name: "sluice-mock", dependencies: [
            "SluiceMockProvider",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // No gateway code: the pool's C libraries alone, measured for `scripts/bench --floor`.
        .executableTarget(name: "sluice-floor", dependencies: ["CCurl", "CFastCGI", "CLinux"]),

        // Test fixtures shared by the test targets (a real PostgreSQL, started and stopped by pid).
        .target(name: "SluiceTestSupport", path: "Tests/SluiceTestSupport"),

        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore"]),
        .testTarget(name: "SluiceProvidersTests", dependencies: ["SluiceProviders", "SluiceCore"],
                    resources: [.copy("Fixtures")]),
        .testTarget(name: "SluiceAdapterTests", dependencies: ["SluiceHTTP", "SluiceRedis", "SluiceCore", "SluiceMockProvider",
                                                              "SluiceProviders",
                                                              "SluicePostgres",
                                                              "SluiceGateway", "SluiceOps", "SluiceTestSupport"]),
        .testTarget(name: "SluiceIntegrationTests", dependencies: ["SluiceHTTP", "SluiceCore", "SluiceProviders",
                                                                  "SluiceRedis", "SluiceGateway", "SluiceOps", "SluicePostgres",
                                                                  "SluiceTestSupport"]),
    ],
    swiftLanguageModes: [.v6],
    cxxLanguageStandard: .cxx17
)
