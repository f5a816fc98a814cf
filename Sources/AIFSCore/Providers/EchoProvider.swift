/// The built-in offline model: replies with the user's message, byte for byte, streamed in
/// small chunks so that streaming is exercised end to end.
///
/// Models: `echo` (no delay) and `echo/slow` (a delay before each chunk, ``slowChunkDelay``;
/// for demos and tests of blocking readers). Token usage is counted as whitespace-separated
/// words, in and out.
public struct EchoProvider: ImmediateProvider {
    /// Largest chunk streamed at a time.
    public static let chunkSize = 16
    /// Delay before each chunk of `echo/slow`.
    public var slowChunkDelay: Duration

    public init(slowChunkDelay: Duration = .milliseconds(200)) {
        self.slowChunkDelay = slowChunkDelay
    }

    public func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        let message = request.latestUserMessage
        let slow = request.model == "slow"
        for chunk in Self.chunks(of: message, slow: slow) {
            if slow { try await Task.sleep(for: slowChunkDelay) }
            try Task.checkCancellation()
            sink.text(chunk)
        }
        let words = Self.wordCount(message)
        sink.usage(input: words, output: words)
    }

    /// Largest message answered at once on the loop thread (1,024 chunks); a longer one, and
    /// every `echo/slow` message, is answered in a task, so the loop never spends long on one.
    public static let immediateLimit = 16 * 1024

    public func respondImmediately(to request: ProviderRequest, into sink: any ReplySink) -> Bool {
        guard request.model != "slow", request.message.count <= Self.immediateLimit else { return false }
        for chunk in Self.chunks(of: request.message, slow: false) { sink.text(chunk) }
        let words = Self.wordCount(request.message)
        sink.usage(input: words, output: words)
        return true
    }

    /// Splits at word boundaries where it can (slow: one word per chunk), at most `chunkSize` bytes.
    static func chunks(of bytes: [UInt8], slow: Bool) -> [[UInt8]] {
        var chunks: [[UInt8]] = []
        var current: [UInt8] = []
        for byte in bytes {
            current.append(byte)
            let boundary = byte == 0x20 || byte == 0x0A
            if current.count >= chunkSize || (slow && boundary) {
                chunks.append(current)
                current = []
            }
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    static func wordCount(_ bytes: [UInt8]) -> Int {
        var count = 0
        var inWord = false
        for byte in bytes {
            let space = byte == 0x20 || byte == 0x0A || byte == 0x09 || byte == 0x0D
            if !space && !inWord { count += 1 }
            inWord = !space
        }
        return count
    }
}
