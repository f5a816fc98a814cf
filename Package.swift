// swift-tools-version:6.0
import PackageDescription

// Layers, each knowing only the one below:
//   CFuse3 (libfuse3 C API) → FuseKit (Swift bridge, no AI concepts) → AIFSCore (the filesystem) → aifs (CLI)
let package = Package(
    name: "aifs",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "aifs", targets: ["aifs"]),
        .library(name: "FuseKit", targets: ["FuseKit"]),
        .library(name: "AIFSCore", targets: ["AIFSCore"]),
        .library(name: "RedisKit", targets: ["RedisKit"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Tests only: property-based fuzzing of the parsers (FuzzTests).
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CFuse3",
            pkgConfig: "fuse3",
            providers: [.apt(["libfuse3-dev"])]
        ),
        .target(
            name: "FuseKit",
            dependencies: [
                "CFuse3",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The hiredis C client (Debian's libhiredis-dev) and its Swift wrapper, for the Redis store.
        .systemLibrary(name: "CHiredis", providers: [.apt(["libhiredis-dev"])]),
        .target(name: "RedisKit", dependencies: ["CHiredis"]),
        // liblzma (Debian's liblzma-dev): compresses the Redis log's checkpoints (xz -1 made a
        // checkpoint 30 % smaller than zlib -9 did; docs/distributed.md).
        .systemLibrary(name: "CLZMA", providers: [.apt(["liblzma-dev"])]),
        // libedit (Debian's libedit-dev): line editing and history for `aifs chat`.
        .systemLibrary(name: "CEdit", providers: [.apt(["libedit-dev"])]),
        .target(
            name: "AIFSCore",
            dependencies: [
                "FuseKit",
                "RedisKit",
                "CLZMA",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "GRDB", package: "GRDB.swift"),
                // SQLite's C API, which GRDB links: the writer's hot statements (WriterStatements).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // The `[metrics] listen` HTTP server's event loop (MetricsListener).
                .product(name: "NIOPosix", package: "swift-nio"),
            ]
        ),
        .executableTarget(
            name: "aifs",
            dependencies: [
                "AIFSCore",
                "FuseKit",
                "CEdit",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "FuseKitTests", dependencies: ["FuseKit"]),
        .testTarget(name: "RedisKitTests", dependencies: ["RedisKit"]),
        .testTarget(
            name: "AIFSCoreTests",
            dependencies: [
                "AIFSCore",
                // The in-process fake model server (OpenAI SSE and Anthropic events, with faults).
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // Starts the real daemon (the `aifs` product) on temp mountpoints; also runs Tests/Acceptance/*.sh.
        .testTarget(name: "MountTests", dependencies: ["aifs"]),
        // The parsers under a fuzzer: 100,000 generated inputs per target, properties checked.
        // Its own code (generators, reference parsers) is built with -O, about 3× faster; the
        // code under test (AIFSCore) stays as the configuration builds it.
        .testTarget(
            name: "FuzzTests",
            dependencies: [
                "AIFSCore",
                "FuseKit",
                .product(name: "PropertyBased", package: "swift-property-based"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: [.unsafeFlags(["-O"])]
        ),
    ]
)
