#if canImport(AIFSCore)
@testable import AIFSCore
#endif

/// A micro-benchmark of reading a model stream: µs per event through the general path
/// (`LineSplitter` → `SSEParser` → `OpenAIFormat.decode`/`AnthropicFormat.decode`, the text
/// turned into bytes for the sink) and through the fast path (`SSEReader` → `fastDecode`), on
/// the event shapes of `Benchmarks/stream_server.py` and of the Anthropic API. It only prints;
/// nothing checks a time. The test target runs it when `AIFS_BENCH_STREAM=1` is set; for
/// figures that mean something, compile it optimised with the formats alone:
///
///     echo 'print(StreamBenchmark.report())' > /tmp/main.swift
///     swiftc -O -wmo Sources/AIFSCore/Providers/Formats/*.swift \
///         Tests/AIFSCoreTests/FastPathBenchmark.swift /tmp/main.swift -o /tmp/stream-bench && /tmp/stream-bench
enum StreamBenchmark {
    enum Dialect { case openai, anthropic }

    /// One event per token, as the servers send them.
    static func events(_ dialect: Dialect, count: Int) -> [UInt8] {
        var bytes: [UInt8] = []
        for i in 0..<count {
            let token = " T\(1_733_000_000_000_000_000 + i * 7919);"
            switch dialect {
            case .openai:
                bytes += Array("data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\(token)\"}}]}\n\n".utf8)
            case .anthropic:
                bytes += Array(("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                                + "\"delta\":{\"type\":\"text_delta\",\"text\":\"\(token)\"}}\n\n").utf8)
            }
        }
        return bytes
    }

    /// Cuts `bytes` into chunks of about `size` bytes (a socket read's worth).
    static func chunks(_ bytes: [UInt8], size: Int) -> [[UInt8]] {
        stride(from: 0, to: bytes.count, by: size).map { Array(bytes[$0..<min(bytes.count, $0 + size)]) }
    }

    /// The bytes of reply text the general path hands to the sink.
    static func general(_ chunks: [[UInt8]], _ dialect: Dialect) -> Int {
        var splitter = LineSplitter()
        var parser = SSEParser()
        var total = 0
        for chunk in chunks {
            for line in splitter.push(chunk) {
                guard let event = parser.push(line: line) else { continue }
                let deltas = dialect == .openai ? try? OpenAIFormat.decode(event) : try? AnthropicFormat.decode(event)
                for case .text(let text) in deltas ?? [] { total += Array(text.utf8).count }
            }
        }
        return total
    }

    /// The same through the fast path (the general decoder for what it declines).
    static func fast(_ chunks: [[UInt8]], _ dialect: Dialect) -> Int {
        var reader = SSEReader()
        var total = 0
        for chunk in chunks {
            chunk.withUnsafeBytes { raw in
                reader.push(raw) { event in
                    let delta = event.data.withUnsafeBufferPointer { data in
                        dialect == .openai ? OpenAIFormat.fastDecode(data) : AnthropicFormat.fastDecode(data)
                    }
                    if let delta {
                        total += delta.text.count
                    } else {
                        let deltas = dialect == .openai ? try? OpenAIFormat.decode(event.event) : try? AnthropicFormat.decode(event.event)
                        for case .text(let text) in deltas ?? [] { total += Array(text.utf8).count }
                    }
                }
            }
        }
        return total
    }

    /// The best of `rounds` runs of `body`, in µs per event.
    static func time(events: Int, rounds: Int, _ body: () -> Int) -> Double {
        let clock = ContinuousClock()
        var best = Double.infinity
        for _ in 0..<rounds {
            var result = 0
            let elapsed = clock.measure { result = body() }
            precondition(result > 0)
            let micros = Double(elapsed.components.seconds) * 1e6 + Double(elapsed.components.attoseconds) / 1e12
            best = min(best, micros / Double(events))
        }
        return best
    }

    /// One line per dialect and chunking: general, fast, and the ratio. The two paths alternate
    /// round by round, so that load from elsewhere hits both alike.
    static func report(events count: Int = 10_000, rounds: Int = 7) -> String {
        var lines: [String] = []
        for dialect in [Dialect.openai, .anthropic] {
            let bytes = events(dialect, count: count)
            for (label, size) in [("one event per chunk", events(dialect, count: 1).count), ("4 KiB chunks", 4096)] {
                let pieces = chunks(bytes, size: size)
                precondition(general(pieces, dialect) == fast(pieces, dialect))
                var slow = Double.infinity, quick = Double.infinity
                for _ in 0..<rounds {
                    slow = min(slow, time(events: count, rounds: 1) { general(pieces, dialect) })
                    quick = min(quick, time(events: count, rounds: 1) { fast(pieces, dialect) })
                }
                lines.append("\(dialect), \(label): general \(format(slow)) µs/event, fast \(format(quick)) µs/event, \(format(slow / quick))×")
            }
        }
        return lines.joined(separator: "\n")
    }

    static func format(_ value: Double) -> String {
        let hundredths = Int((value * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }
}
