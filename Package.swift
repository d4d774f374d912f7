// swift-tools-version: 6.2
import PackageDescription

// Every target is compiled in Swift 6 language mode (strict concurrency) and
// warnings are treated as defects by `make check` (see Makefile).
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
]

let package = Package(
    name: "Sendense",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "sendense", targets: ["sendense"]),
        .executable(name: "sendense-bench", targets: ["SendenseBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth", from: "2.5.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    ],
    targets: [
        .target(
            name: "SendenseCore",
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "SendenseAPI",
            dependencies: ["SendenseCore"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .systemLibrary(name: "CZlib"),
        .systemLibrary(name: "CZstd"),
        .systemLibrary(name: "CTSK"),
        .systemLibrary(name: "CArchive"),
        .systemLibrary(name: "CSandbox"),
        .systemLibrary(name: "CFSXFS"),
        .systemLibrary(name: "CLZO"),
        .systemLibrary(name: "CLibvirt"),
        .target(
            name: "DiskImage",
            dependencies: ["SendenseCore", "CZlib", "CZstd"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "NBD",
            dependencies: [
                "SendenseCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "VSphere",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Libvirt",
            dependencies: ["SendenseCore", "CLibvirt"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "BackupSources",
            dependencies: ["SendenseCore", "NBD", "VSphere", "Libvirt"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "FileRestore",
            dependencies: ["SendenseCore", "DiskImage", "CTSK", "CArchive", "CSandbox", "CFSXFS", "CLZO"],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Engine",
            dependencies: [
                "SendenseCore", "DiskImage", "NBD", "BackupSources", "Repository", "Catalog", "FileRestore", "VSphere", "Libvirt",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Catalog",
            dependencies: [
                "SendenseCore",
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Repository",
            dependencies: [
                "SendenseCore",
                .product(name: "Subprocess", package: "swift-subprocess"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "Hub",
            dependencies: [
                "SendenseCore", "SendenseAPI", "Catalog", "Repository", "Engine", "FileRestore", "VSphere",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            exclude: ["README.md"],
            resources: [.copy("Resources/openapi.yaml")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "SendenseBench",
            dependencies: ["Engine", "BackupSources", "Repository", "FileRestore", "DiskImage", "NBD", "VSphere", "Catalog", "SendenseCore",
                           .product(name: "Logging", package: "swift-log")],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "sendense",
            dependencies: [
                "Hub", "Engine", "Repository", "FileRestore", "SendenseCore", "SendenseAPI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
            ],
            exclude: ["README.md"],
            swiftSettings: swiftSettings
        ),
        .target(
            name: "TestSupport",
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "SendenseCoreTests",
            dependencies: ["SendenseCore"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "DiskImageTests",
            dependencies: ["DiskImage", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "FileRestoreTests",
            dependencies: ["FileRestore", "DiskImage", "TestSupport", .product(name: "Crypto", package: "swift-crypto")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "VSphereTests",
            dependencies: ["VSphere", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "NBDTests",
            dependencies: ["NBD", "TestSupport", .product(name: "NIOCore", package: "swift-nio")],
            exclude: ["hostile_nbd_server.py"],  // run by the tests from its place, not a resource
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "EngineTests",
            dependencies: ["Engine", "DiskImage", "BackupSources", "Repository", "TestSupport", "VSphere", "Libvirt", "Catalog", "SendenseCore",
                           .product(name: "Logging", package: "swift-log"), .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CatalogTests",
            dependencies: ["Catalog", "TestSupport", .product(name: "GRDB", package: "GRDB.swift")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RepositoryTests",
            dependencies: ["Repository", "TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "CLITests",
            dependencies: ["TestSupport"],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "HubTests",
            dependencies: [
                "Hub", "Catalog", "TestSupport", "VSphere",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
