// swift-tools-version:6.1
// The targets draw berth's architecture: dependencies point downward only.
//
//   berth (CLI) ─┬─ HTTPFront ─┬─ AppExchange (the seam between front and gateway)
//                │      └──────┼─ HTTP2 ─ CNGHTTP2 (libnghttp2)
//                ├─ HTTPFrontTLS ─ HTTPFront (TLS listeners: swift-nio-ssl, SNI, ALPN)
//                ├─ HTTPProxy ─┤  (an AppService that forwards to HTTP(S) upstreams; LinuxSystem, NIOSSL)
//                ├─ Gateway ───┤
//                │      └──────┼─ Container ─ LinuxSystem ─ CBerthLinux
//                └─ BerthConfig
import PackageDescription

let package = Package(
    name: "berth",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "berth", targets: ["berth"])
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/LebJe/TOMLKit.git", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
    ],
    targets: [
        // The only C we write: tiny shims the Swift side cannot express (fd passing helpers,
        // the post-clone child routine of the isolation issue).
        .target(name: "CBerthLinux"),
        // libseccomp: the parent compiles the worker's seccomp profile to BPF with it.
        .systemLibrary(
            name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        // libnghttp2: HTTP/2 framing, HPACK, flow control. Only the HTTP2 target imports it.
        .systemLibrary(
            name: "CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        // The nghttp2 session glue: bytes in → events, responses out through per-stream queues.
        .target(
            name: "HTTP2",
            dependencies: ["CNGHTTP2", .product(name: "NIOCore", package: "swift-nio")]),
        // Swift syscall wrappers: EINTR retried, errors name the call and its object.
        .target(name: "LinuxSystem", dependencies: ["CBerthLinux"]),
        // Config model, TOML loading, validation with errors that name the key.
        .target(name: "BerthConfig", dependencies: ["TOMLKit"]),
        // The seam between the front and the gateway: one request handed to an app, its
        // response streamed back. The front and the gateway both know it, not each other.
        .target(
            name: "AppExchange",
            dependencies: ["LinuxSystem", .product(name: "NIOCore", package: "swift-nio")]),
        // Spawning workers: today plain processes, tomorrow containers.
        .target(name: "Container", dependencies: ["LinuxSystem", "CSeccomp"]),
        // Worker protocol, pool, supervisor.
        .target(
            name: "Gateway",
            dependencies: [
                "LinuxSystem", "Container", "AppExchange",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // HTTP/1.1 server, router, static files, access log.
        .target(
            name: "HTTPFront",
            dependencies: [
                "LinuxSystem", "AppExchange", "HTTP2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // Reverse proxy: an AppService that forwards requests to HTTP/1.1 upstreams over
        // pooled keep-alive connections. The front sees it like any other app.
        .target(
            name: "HTTPProxy",
            dependencies: [
                "AppExchange", "LinuxSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // TLS for the front's listeners: certificates, SNI, reload, ALPN. Beside the core,
        // depending only on it.
        .target(
            name: "HTTPFrontTLS",
            dependencies: [
                "HTTPFront",
                "AppExchange",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .executableTarget(
            name: "berth",
            dependencies: [
                "BerthConfig", "HTTPFront", "HTTP2", "HTTPFrontTLS", "HTTPProxy", "Gateway", "Container", "LinuxSystem", "AppExchange",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "BerthConfigTests", dependencies: ["BerthConfig"]),
        .testTarget(
            name: "HTTPFrontTests",
            dependencies: [
                "HTTPFront", "HTTP2", "LinuxSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "HTTP2Tests",
            dependencies: ["HTTP2", .product(name: "NIOCore", package: "swift-nio")]),
        .testTarget(
            name: "HTTPProxyTests",
            dependencies: [
                "HTTPProxy", "AppExchange",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        .testTarget(
            name: "HTTPFrontTLSTests",
            dependencies: [
                "HTTPFrontTLS",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]),
        .testTarget(name: "ContainerTests", dependencies: ["Container", "LinuxSystem"]),
        .testTarget(
            name: "GatewayTests",
            dependencies: [
                "Gateway", "AppExchange", "LinuxSystem",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
