import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The optional HTTP listener of `[metrics] listen`: serves the text of `/ai/metrics` at
/// `GET /metrics` (and `HEAD`), `404` for any other path, `405` for any other method.
///
/// It runs on an event loop of its own (one NIO thread), never on the FUSE loop or Swift's
/// cooperative pool; each request renders the text afresh (``AIFileSystem/metricsText()``, a few
/// short locks). Keep-alive is honoured, so a scraper may reuse its connection.
public final class MetricsListener: Sendable {
    /// The `Content-Type` of the exposition format, version 0.0.4.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel
    /// Where it listens (the port the kernel chose when `listen` asked for port 0).
    public let address: ListenAddress

    private init(group: MultiThreadedEventLoopGroup, channel: any Channel, address: ListenAddress) {
        self.group = group
        self.channel = channel
        self.address = address
    }

    /// Binds `address` and starts serving `render()`. Throws ``MetricsListenerError`` with the
    /// reason (address in use, no such host…) when it cannot listen.
    public static func start(_ address: ListenAddress, render: @escaping @Sendable () -> String) async throws -> MetricsListener {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        do {
            let channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                        channel.pipeline.addHandler(MetricsHTTPHandler(render: render))
                    }
                }
                .bind(host: address.host, port: address.port).get()
            let bound = ListenAddress(host: address.host, port: channel.localAddress?.port ?? address.port)
            return MetricsListener(group: group, channel: channel, address: bound)
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsListenerError(address: address, underlying: error)
        }
    }

    /// Stops listening and ends its thread.
    public func stop() async {
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

/// Why the metrics listener could not start: `[metrics] listen = "127.0.0.1:9464": cannot
/// listen: Address already in use`.
public struct MetricsListenerError: Error, CustomStringConvertible {
    public let address: ListenAddress
    public let reason: String

    init(address: ListenAddress, underlying: any Error) {
        self.address = address
        if let io = underlying as? IOError {
            reason = String(cString: strerror(io.errnoCode))
        } else {
            reason = "\(underlying)"
        }
    }

    public var description: String { "[metrics] listen = \"\(address)\": cannot listen: \(reason)" }
}

/// One connection's requests: the head says what is asked; the answer goes at the request's end.
/// Used only on its channel's event loop (hence `@unchecked Sendable`).
final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let render: @Sendable () -> String
    init(render: @escaping @Sendable () -> String) { self.render = render }

    /// What a request asked for, as its head said (kept until its end arrives).
    private struct Asked {
        var method: HTTPMethod
        var path: Substring
        var version: HTTPVersion
        var keepAlive: Bool
    }
    private var asked: Asked?

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            let path = head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
            asked = Asked(method: head.method, path: path, version: head.version, keepAlive: head.isKeepAlive)
        case .body:
            break  // a body is not wanted and is ignored
        case .end:
            guard let asked else { return }
            self.asked = nil
            respond(asked, context: context)
        }
    }

    private func respond(_ asked: Asked, context: ChannelHandlerContext) {
        var headers = HTTPHeaders()
        let status: HTTPResponseStatus
        let body: String
        if asked.path != "/metrics" {
            status = .notFound
            body = "not found: only /metrics is served here\n"
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else if asked.method != .GET && asked.method != .HEAD {
            status = .methodNotAllowed
            body = "method not allowed: /metrics answers GET and HEAD\n"
            headers.add(name: "Allow", value: "GET, HEAD")
            headers.add(name: "Content-Type", value: "text/plain; charset=utf-8")
        } else {
            status = .ok
            body = render()
            headers.add(name: "Content-Type", value: MetricsListener.contentType)
        }
        let bytes = ByteBuffer(string: body)
        headers.add(name: "Content-Length", value: "\(bytes.readableBytes)")
        if !asked.keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: asked.version, status: status, headers: headers))), promise: nil)
        if asked.method != .HEAD { context.write(wrapOutboundOut(.body(.byteBuffer(bytes))), promise: nil) }
        let keepAlive = asked.keepAlive
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
            if !keepAlive { channel.close(promise: nil) }
        }
    }
}
