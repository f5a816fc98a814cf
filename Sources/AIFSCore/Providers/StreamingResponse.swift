import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization

/// One HTTP request whose streamed reply is decoded on the event loop that reads it: each body
/// part goes through the ``StreamDecoder`` to the sink inside AsyncHTTPClient's delegate call,
/// so a token crosses no other thread between the network and a parked `read` of `output`
/// (the async body sequence would resume a task on the cooperative pool for every read).
///
/// The caller awaits ``run(_:on:)``: `.streamed` once the reply is complete (the stream's own
/// end, not the connection's), `.refused` with the status, headers and the start of the body
/// for any status but 200, or a thrown failure: ``RetryableFailure`` for a connection that
/// could not be made or broke and a stream that ended early, ``ProviderError`` for what the
/// decoder refuses, `CancellationError` when the awaiting task is cancelled (which cancels the
/// request). Once `run` has returned or thrown, nothing more is forwarded to the sink.
///
/// No lock is held while the sink runs: a socket cancels its request (`Task.cancel`, which
/// runs the cancellation handler here) while holding its own lock, and the sink takes that
/// lock. The decoder is touched only by the delegate's calls, which AsyncHTTPClient makes one
/// at a time on the request's event loop; the lock guards only the outcome.
final class StreamingResponse: HTTPClientResponseDelegate {
    typealias Response = Void

    enum Outcome: Sendable {
        case streamed
        case refused(status: HTTPResponseStatus, headers: HTTPHeaders, body: String)
    }

    /// The most of an error body kept for its message.
    static let errorBodyLimit = 64 * 1024

    private struct State {
        var head: HTTPResponseHead?
        var errorBody: [UInt8] = []
        var continuation: CheckedContinuation<Outcome, any Error>?
        var task: HTTPClient.Task<Void>?
        var ended = false
        var cancelled = false
    }

    private let state = Mutex(State())
    private let decoding: DecoderBox
    private let gate: SinkGate
    private let endpoint: String
    private let lastChunk: LastChunkClock

    /// `decoder` makes the decoder around the sink it is given (the caller's, gated so that
    /// nothing passes once `run` has ended).
    init(sink: any ReplySink, decoder: (any ReplySink) -> StreamDecoder, endpoint: String, lastChunk: LastChunkClock) {
        gate = SinkGate(sink)
        decoding = DecoderBox(decoder(gate))
        self.endpoint = endpoint
        self.lastChunk = lastChunk
    }

    /// Whether the response head has arrived (the idle timeout then counts between chunks).
    var answered: Bool { state.withLock { $0.head != nil } }

    /// Sends `request` and waits for the outcome.
    func run(_ request: HTTPClient.Request, on client: HTTPClient) async throws -> Outcome {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                let cancelled = state.withLock { s in
                    s.continuation = continuation
                    return s.cancelled
                }
                if cancelled { return end(.failure(CancellationError())) }
                // The delegate on the connection's own event loop: otherwise every body part
                // hops from the channel's loop to the task's (one more thread per token).
                let task = client.execute(request: request, delegate: self,
                                          eventLoop: .delegateAndChannel(on: client.eventLoopGroup.any()))
                let ended = state.withLock { s in
                    s.task = task
                    return s.ended
                }
                if ended { task.cancel() }
            }
        } onCancel: {
            let task = state.withLock { s in
                s.cancelled = true
                return s.task
            }
            end(.failure(CancellationError()))
            task?.cancel()
        }
    }

    /// Resumes the caller once; what comes after is dropped.
    private func end(_ result: Result<Outcome, any Error>) {
        let continuation = state.withLock { s -> CheckedContinuation<Outcome, any Error>? in
            guard !s.ended, let continuation = s.continuation else { return nil }
            s.ended = true
            s.continuation = nil
            return continuation
        }
        guard let continuation else { return }
        gate.close()
        continuation.resume(with: result)
    }

    func didReceiveHead(task: HTTPClient.Task<Void>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        lastChunk.touch()
        state.withLock { $0.head = head }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Void>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        lastChunk.touch()
        let streaming = state.withLock { s -> Bool in
            guard !s.ended, let head = s.head else { return false }
            guard head.status == .ok else {
                let room = Self.errorBodyLimit - s.errorBody.count
                if room > 0 { s.errorBody += buffer.readableBytesView.prefix(room) }
                return false
            }
            return true
        }
        guard streaming else { return task.eventLoop.makeSucceededVoidFuture() }
        var result: Result<Outcome, any Error>?
        do {
            try buffer.withUnsafeReadableBytes { try decoding.decoder.push($0) }
            if decoding.decoder.finished { result = .success(.streamed) }
        } catch {
            result = .failure(error)
        }
        if let result {
            end(result)
            task.cancel()  // the reply is complete (or refused): the rest of the body is not read
        }
        return task.eventLoop.makeSucceededVoidFuture()
    }

    func didReceiveError(task: HTTPClient.Task<Void>, _ error: any Error) {
        let (cancelled, answered) = state.withLock { ($0.cancelled, $0.head != nil) }
        if cancelled { return end(.failure(CancellationError())) }
        let reason = HTTPModelProvider.describe(error)
        end(.failure(RetryableFailure(message: answered ? "the connection broke: \(reason)" : "cannot reach \(endpoint): \(reason)")))
    }

    func didFinishRequest(task: HTTPClient.Task<Void>) throws {
        let (ended, head, errorBody) = state.withLock { s in (s.ended, s.head, s.errorBody) }
        guard !ended else { return }
        guard let head else { return end(.failure(RetryableFailure(message: "\(endpoint) ended the request without a response"))) }
        guard head.status == .ok else {
            return end(.success(.refused(status: head.status, headers: head.headers, body: String(decoding: errorBody, as: UTF8.self))))
        }
        do {
            try decoding.decoder.finish()
            end(.success(.streamed))
        } catch {
            end(.failure(error))
        }
    }
}

/// The decoder of one response, used only from the delegate's calls (one at a time, on the
/// request's event loop), so it needs no lock.
private final class DecoderBox: @unchecked Sendable {
    var decoder: StreamDecoder
    init(_ decoder: StreamDecoder) { self.decoder = decoder }
}

/// A sink that forwards until closed (the response's outcome is decided), holding no lock
/// while it forwards.
private final class SinkGate: ReplySink {
    private let sink: any ReplySink
    private let open = Atomic<Bool>(true)

    init(_ sink: any ReplySink) { self.sink = sink }

    func close() { open.store(false, ordering: .releasing) }
    private var isOpen: Bool { open.load(ordering: .acquiring) }

    func text(_ bytes: [UInt8]) { if isOpen { sink.text(bytes) } }
    func reasoning(_ bytes: [UInt8]) { if isOpen { sink.reasoning(bytes) } }
    func usage(input: Int, output: Int) { if isOpen { sink.usage(input: input, output: output) } }
    func diagnostic(kind: String, _ message: String) { if isOpen { sink.diagnostic(kind: kind, message) } }
    func toolCall(_ call: ToolCallRequest) { if isOpen { sink.toolCall(call) } }
}
