import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// What the fake server answers one request with.
enum FakeResponse: Sendable {
    /// A proper OpenAI Chat Completions stream ending with `data: [DONE]`.
    case openAI(tokens: [String], reasoning: [String] = [], tokenDelay: Duration = .zero, usage: Bool = true)
    /// A proper Anthropic Messages event stream (message_start, ping, blocks, message_delta, message_stop).
    case anthropic(tokens: [String], thinking: [String] = [], tokenDelay: Duration = .zero)
    /// A plain HTTP answer, e.g. 401 with a JSON error, 429 with `retry-after`.
    case status(Int, headers: [(String, String)] = [], body: String)
    /// Some tokens, then the connection closes without the end of the stream.
    case cutStream(afterTokens: Int, openAI: Bool)
    /// 200 and an event whose data is not JSON.
    case malformed(openAI: Bool)
    /// 200 and an error reported inside the stream.
    case errorEvent(openAI: Bool, message: String)
    /// Anything, byte for byte, in these chunks.
    case raw(status: Int, headers: [(String, String)], chunks: [[UInt8]], chunkDelay: Duration)
    /// A round of tool calls as OpenAI streams them (optional `text` tokens first): the header
    /// chunk of each call, its arguments over `chunks` chunks, `finish_reason: "tool_calls"`.
    case openAIToolCalls([FakeToolCall], text: [String] = [])
    /// A round of tool calls as Anthropic streams them (an optional text block first): a
    /// `tool_use` block per call, its input over `input_json_delta` events, `stop_reason: "tool_use"`.
    case anthropicToolCalls([FakeToolCall], text: [String] = [])
    /// `response`'s head and its first `after` chunks, then the rest only once `gate` opens
    /// (never, if the test never opens it): an event, not a delay, decides when a stream goes on.
    indirect case gated(FakeResponse, after: Int, gate: FakeGate)

    /// The OpenAI SSE bytes of a stream of tokens, one event per element.
    static func openAIEvents(tokens: [String], reasoning: [String] = [], usage: Bool = true) -> [String] {
        func chunk(_ delta: String) -> String {
            "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":\(delta),\"finish_reason\":null}]}\n\n"
        }
        var events = [chunk("{\"role\":\"assistant\",\"content\":\"\"}")]
        events += reasoning.map { chunk("{\"reasoning_content\":\(jsonString($0))}") }
        events += tokens.map { chunk("{\"content\":\(jsonString($0))}") }
        events.append("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n")
        if usage {
            events.append("data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"fake\",\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":\(tokens.count),\"total_tokens\":\(3 + tokens.count)}}\n\n")
        }
        events.append("data: [DONE]\n\n")
        return events
    }

    /// The Anthropic SSE bytes of a stream of tokens, one event per element.
    static func anthropicEvents(tokens: [String], thinking: [String] = []) -> [String] {
        func event(_ name: String, _ data: String) -> String { "event: \(name)\ndata: \(data)\n\n" }
        var events = [
            event("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"fake\",\"stop_reason\":null,\"usage\":{\"input_tokens\":4,\"output_tokens\":1}}}"),
            event("ping", "{\"type\":\"ping\"}"),
        ]
        var index = 0
        if !thinking.isEmpty {
            events.append(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}"))
            events += thinking.map { event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\(jsonString($0))}}") }
            events.append(event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"signature_delta\",\"signature\":\"abc\"}}"))
            events.append(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":0}"))
            index = 1
        }
        events.append(event("content_block_start", "{\"type\":\"content_block_start\",\"index\":\(index),\"content_block\":{\"type\":\"text\",\"text\":\"\"}}"))
        events += tokens.map { event("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":\(index),\"delta\":{\"type\":\"text_delta\",\"text\":\(jsonString($0))}}") }
        events.append(event("some_future_event", "{\"type\":\"some_future_event\"}"))
        events.append(event("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":\(index)}"))
        events.append(event("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":\(tokens.count)}}"))
        events.append(event("message_stop", "{\"type\":\"message_stop\"}"))
        return events
    }

    static func jsonString(_ text: String) -> String {
        let data = try! JSONSerialization.data(withJSONObject: [text])
        return String(String(decoding: data, as: UTF8.self).dropFirst().dropLast())
    }

    /// The status, headers, body chunks, delay between chunks, and whether to cut the connection.
    func plan(path: String) -> (status: Int, headers: [(String, String)], chunks: [[UInt8]], delay: Duration, cut: Bool) {
        let sse = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        func bytes(_ events: [String]) -> [[UInt8]] { events.map { Array($0.utf8) } }
        switch self {
        case .openAI(let tokens, let reasoning, let delay, let usage):
            return (200, sse, bytes(Self.openAIEvents(tokens: tokens, reasoning: reasoning, usage: usage)), delay, false)
        case .anthropic(let tokens, let thinking, let delay):
            return (200, sse, bytes(Self.anthropicEvents(tokens: tokens, thinking: thinking)), delay, false)
        case .status(let code, let headers, let body):
            return (code, [("content-type", "application/json")] + headers, [Array(body.utf8)], .zero, false)
        case .cutStream(let count, let openAI):
            let events = openAI ? Self.openAIEvents(tokens: (0..<10).map { "t\($0) " }) : Self.anthropicEvents(tokens: (0..<10).map { "t\($0) " })
            let keep = openAI ? 1 + count : 3 + count
            return (200, sse, bytes(Array(events.prefix(keep))), .milliseconds(10), true)
        case .malformed(let openAI):
            let first = openAI ? Self.openAIEvents(tokens: ["fine "]).prefix(2) : Self.anthropicEvents(tokens: ["fine "]).prefix(4)
            return (200, sse, bytes(Array(first) + ["data: {this is not json\n\n"]), .zero, false)
        case .errorEvent(let openAI, let message):
            let error = openAI
                ? "data: {\"error\":{\"message\":\(Self.jsonString(message)),\"type\":\"server_error\"}}\n\n"
                : "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\(Self.jsonString(message))}}\n\n"
            let start = openAI ? Array(Self.openAIEvents(tokens: []).prefix(1)) : Array(Self.anthropicEvents(tokens: []).prefix(2))
            return (200, sse, bytes(start + [error]), .zero, false)
        case .raw(let status, let headers, let chunks, let delay):
            return (status, headers, chunks, delay, false)
        case .openAIToolCalls(let calls, let text):
            return (200, sse, bytes(Self.openAIToolEvents(calls, text: text)), .zero, false)
        case .anthropicToolCalls(let calls, let text):
            return (200, sse, bytes(Self.anthropicToolEvents(calls, text: text)), .zero, false)
        case .gated(let response, _, _):
            return response.plan(path: path)
        }
    }
}

/// Holds a ``FakeResponse/gated(_:after:gate:)`` stream until the test opens it.
final class FakeGate: Sendable {
    private let state = Mutex<(open: Bool, waiting: [@Sendable () -> Void])>((false, []))

    func open() {
        let waiting = state.withLock { s in
            s.open = true
            defer { s.waiting = [] }
            return s.waiting
        }
        for body in waiting { body() }
    }

    /// Runs `body` once the gate is open (at once if it is).
    func whenOpen(_ body: @escaping @Sendable () -> Void) {
        let now = state.withLock { s in
            if s.open { return true }
            s.waiting.append(body)
            return false
        }
        if now { body() }
    }
}

/// A request the fake server received, its body whole (``FakeModelServer/requests``).
struct FakeRequest: Sendable {
    var method: String
    var path: String
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
}

/// An in-process HTTP/1.1 model server on 127.0.0.1 for provider tests: it speaks the OpenAI
/// and Anthropic streaming formats byte for byte (text, reasoning, tool calls), streams with
/// delays, and injects faults (status codes with `retry-after`, cut streams, malformed data,
/// error events). ``requests`` keeps every request received, its body whole.
///
/// Responses are queued with ``enqueue(_:)`` and used in order; with none queued a request to
/// `…/chat/completions` gets an OpenAI "ok" stream and `…/messages` an Anthropic one.
final class FakeModelServer: Sendable {
    private let channel: any Channel
    private let state = Mutex<(queue: [FakeResponse], requests: [FakeRequest])>(([], []))

    var port: Int { channel.localAddress?.port ?? 0 }
    var baseURL: String { "http://127.0.0.1:\(port)" }

    private init(channel: any Channel, state: Void = ()) {
        self.channel = channel
    }

    static func start() async throws -> FakeModelServer {
        let holder = ServerHolder()
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline().flatMap {
                    channel.pipeline.addHandler(FakeHandler(holder: holder))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let server = FakeModelServer(channel: channel)
        holder.server.withLock { $0 = server }
        return server
    }

    func stop() async throws { try await channel.close() }

    func enqueue(_ responses: FakeResponse...) { state.withLock { $0.queue += responses } }

    var requests: [FakeRequest] { state.withLock { $0.requests } }

    fileprivate func take(_ request: FakeRequest) -> FakeResponse {
        state.withLock { s in
            s.requests.append(request)
            if !s.queue.isEmpty { return s.queue.removeFirst() }
            return request.path.hasSuffix("/messages") ? .anthropic(tokens: ["ok"]) : .openAI(tokens: ["ok"])
        }
    }
}

/// Lets handlers reach the server once it exists.
final class ServerHolder: Sendable {
    let server = Mutex<FakeModelServer?>(nil)
}

/// Collects a request, then plays the planned response.
final class FakeHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let holder: ServerHolder
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(holder: ServerHolder) { self.holder = holder }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head, let server = holder.server.withLock({ $0 }) else { return }
            let request = FakeRequest(method: "\(head.method)", path: head.uri,
                                      headers: head.headers.map { ($0.name, $0.value) }, body: body)
            let response = server.take(request)
            let plan = response.plan(path: head.uri)
            var headers = HTTPHeaders(plan.headers)
            headers.add(name: "transfer-encoding", value: "chunked")
            headers.add(name: "connection", value: "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .init(statusCode: plan.status), headers: headers))), promise: nil)
            context.flush()
            guard case .gated(_, let after, let gate) = response else {
                return play(plan.chunks[...], delay: plan.delay, cut: plan.cut, context: context)
            }
            for chunk in plan.chunks.prefix(after) {
                context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: chunk)))), promise: nil)
            }
            let rest = plan.chunks.dropFirst(after)
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            gate.whenOpen {
                loop.execute {
                    let (handler, context) = bound.value
                    handler.play(rest, delay: plan.delay, cut: plan.cut, context: context)
                }
            }
        }
    }

    private func play(_ chunks: ArraySlice<[UInt8]>, delay: Duration, cut: Bool, context: ChannelHandlerContext) {
        guard let first = chunks.first else {
            if cut {
                // A moment before the cut, so the client has read what was sent: a close can
                // reset the connection, and a reset throws away data the client has not read.
                let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
                loop.scheduleTask(in: .milliseconds(100)) { context.close(promise: nil) }
            } else {
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in context.close(promise: nil) }
            }
            return
        }
        context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: first)))), promise: nil)
        let rest = chunks.dropFirst()
        if delay == .zero {
            play(rest, delay: delay, cut: cut, context: context)
        } else {
            let nanoseconds = delay.components.seconds * 1_000_000_000 + delay.components.attoseconds / 1_000_000_000
            let loop = context.eventLoop.assumeIsolatedUnsafeUnchecked()
            loop.scheduleTask(in: .nanoseconds(nanoseconds)) { self.play(rest, delay: delay, cut: cut, context: context) }
        }
    }
}
