@testable import AIFSCore
import FuseKit
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `/ai/metrics` in-process: the text is well-formed Prometheus exposition (checked line by
/// line by ``PrometheusText``), and its counters, histograms and gauges move with what the test
/// did (docs/file-protocol.md, "`/ai/metrics`").
@Suite("tree: /ai/metrics", .timeLimit(.minutes(1)))
struct TreeMetricsTests {
    @Test("a fresh daemon: every family present, every counter 0; read-only, not a directory")
    func fresh() async throws {
        try await withTree { tree in
            let m = try PrometheusText(try await tree.cat(InodeScheme.metrics))
            for name in ["aifs_requests_total", "aifs_messages_total", "aifs_tokens_total", "aifs_input_bytes_total",
                         "aifs_output_bytes_total", "aifs_tool_calls_total"] {
                #expect(m.types[name] == "counter", "\(name)")
            }
            for name in ["aifs_request_duration_seconds", "aifs_time_to_first_token_seconds", "aifs_store_commit_seconds"] {
                #expect(m.types[name] == "histogram", "\(name)")
                #expect(m[name + "_count"] == 0 && m[name + "_bucket{le=\"+Inf\"}"] == 0, "\(name)")
            }
            for name in ["aifs_sockets", "aifs_queued_messages", "aifs_requests_in_flight", "aifs_parked_readers", "aifs_store_bytes"] {
                #expect(m.types[name] == "gauge" && m[name] == 0, "\(name)")
            }
            for outcome in ["completed", "failed", "cancelled"] { #expect(m["aifs_requests_total{outcome=\"\(outcome)\"}"] == 0) }
            #expect(try await tree.openError(InodeScheme.metrics, O_WRONLY) == .EACCES)
            #expect(try await tree.lookup(InodeScheme.metrics, "x") == .error(.ENOTDIR))
            #expect(try await tree.session.mkdir(parent: Tree.root, name: "metrics").reply == .error(.EEXIST))
            #expect(try await tree.session.unlink(parent: Tree.root, name: "metrics").reply == .error(.EPERM))
            let attributes = try await tree.session.getattr(inode: InodeScheme.metrics).reply.attributes
            #expect(attributes?.permissions == 0o444 && attributes?.kind == .regular)
        }
    }

    @Test("after N echo messages: N messages, N completed, N observations; bytes and tokens as sent")
    func countsWhatWasDone() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            let messages = ["one two\n", "three\n", "four five six\n"]
            for text in messages {
                #expect(try await tree.send(s, text) == .ok)
                #expect(try await tree.cat(s, .output) == text)
            }
            let m = try PrometheusText(try await tree.cat(InodeScheme.metrics))
            let n = Double(messages.count)
            let bytes = Double(messages.map(\.utf8.count).reduce(0, +))
            #expect(m["aifs_messages_total"] == n)
            #expect(m["aifs_requests_total{outcome=\"completed\"}"] == n)
            #expect(m["aifs_requests_total{outcome=\"failed\"}"] == 0)
            #expect(m["aifs_input_bytes_total"] == bytes)
            #expect(m["aifs_output_bytes_total"] == bytes, "echo replies byte for byte")
            #expect(m["aifs_tokens_total{direction=\"in\"}"] == 6 && m["aifs_tokens_total{direction=\"out\"}"] == 6, "echo counts words")
            #expect(m["aifs_request_duration_seconds_count"] == n)
            #expect(m["aifs_request_duration_seconds_bucket{le=\"+Inf\"}"] == n)
            #expect(m["aifs_time_to_first_token_seconds_count"] == n)
            #expect(m["aifs_sockets"] == 1 && m["aifs_requests_in_flight"] == 0 && m["aifs_queued_messages"] == 0)
            // /ai/ctl reads the same counters.
            let ctl = try await tree.cat(InodeScheme.daemonControl)
            #expect(Tree.value("messages", in: ctl) == "3" && Tree.value("requests", in: ctl) == "3")
        }
    }

    @Test("gauges: a request held in flight, one queued behind it, a parked reader; then failed and cancelled outcomes")
    func gaugesAndOutcomes() async throws {
        try await withTree { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.control(s, "model t/gate\n").write == .written(13))
            #expect(try await tree.send(s, "first") == .ok)
            await tree.provider.waitUntilStarted(1)
            #expect(try await tree.send(s, "second") == .ok)
            let output = try await tree.open(s, .output)
            let read = tree.session.read(output)
            try await tree.session.waitUntilParked(1)
            var m = try PrometheusText(try await tree.cat(InodeScheme.metrics))
            #expect(m["aifs_requests_in_flight"] == 1 && m["aifs_queued_messages"] == 1 && m["aifs_parked_readers"] == 1)
            #expect(m["aifs_messages_total"] == 2 && m["aifs_requests_total{outcome=\"completed\"}"] == 0)
            // The first is answered (the parked read gets it), the second cancelled.
            tree.provider.release()
            #expect(try await read.reply.bytes.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("gated: first") == true)
            await tree.provider.waitUntilStarted(2)
            #expect(try await tree.control(s, "cancel\n").write == .written(7))
            // A failure.
            #expect(try await tree.control(s, "model t/fail\n").write == .written(13))
            #expect(try await tree.send(s, "third") == .ok)
            // The rest of the first reply (its newline), then the failure mark.
            var reply = try await tree.session.read(output).reply
            while reply.errno == nil, reply.bytes?.isEmpty == false { reply = try await tree.session.read(output).reply }
            #expect(reply == .error(.EIO), "the failure mark")
            _ = try await tree.session.release(output).reply
            m = try PrometheusText(try await tree.cat(InodeScheme.metrics))
            #expect(m["aifs_requests_total{outcome=\"completed\"}"] == 1)
            #expect(m["aifs_requests_total{outcome=\"cancelled\"}"] == 1)
            #expect(m["aifs_requests_total{outcome=\"failed\"}"] == 1)
            #expect(m["aifs_request_duration_seconds_count"] == 3)
            #expect(m["aifs_time_to_first_token_seconds_count"] == 1, "only the answered one had reply text")
            #expect(m["aifs_requests_in_flight"] == 0 && m["aifs_queued_messages"] == 0 && m["aifs_parked_readers"] == 0)
        }
    }

    @Test("a durable store: its file size and a commit histogram that counts transactions")
    func durableStore() async throws {
        try await withTree(.durable) { tree in
            let s = try await tree.mkdir("s")
            #expect(try await tree.send(s, "hello\n") == .ok)
            #expect(try await tree.cat(s, .output) == "hello\n")
            let m = try PrometheusText(try await tree.cat(InodeScheme.metrics))
            #expect((m["aifs_store_bytes"] ?? 0) > 0)
            #expect((m["aifs_store_commit_seconds_count"] ?? 0) >= 1)
        }
    }

    @Test("the renderer: cumulative buckets, escaped label values, integral numbers without a fraction")
    func renderer() throws {
        var values = DaemonCounters.Values()
        values.toolCalls = ["exit": 2, "we\"ird\\\n": 1]
        values.requestSeconds.observe(0.004)
        values.requestSeconds.observe(0.3)
        values.requestSeconds.observe(1_000)
        let text = MetricsText.render(values, outputBytes: 7, commitSeconds: Histogram(bounds: Histogram.commitBounds),
                                      gauges: MetricsText.Gauges())
        let m = try PrometheusText(text)
        #expect(m["aifs_tool_calls_total{status=\"exit\"}"] == 2)
        #expect(text.contains(#"aifs_tool_calls_total{status="we\"ird\\\n"} 1"#))
        #expect(m["aifs_request_duration_seconds_bucket{le=\"0.0025\"}"] == 0)
        #expect(m["aifs_request_duration_seconds_bucket{le=\"0.005\"}"] == 1)
        #expect(m["aifs_request_duration_seconds_bucket{le=\"0.25\"}"] == 1)
        #expect(m["aifs_request_duration_seconds_bucket{le=\"0.5\"}"] == 2)
        #expect(m["aifs_request_duration_seconds_bucket{le=\"300\"}"] == 2)
        #expect(m["aifs_request_duration_seconds_bucket{le=\"+Inf\"}"] == 3)
        #expect(m["aifs_request_duration_seconds_count"] == 3)
        #expect(m["aifs_output_bytes_total"] == 7)
        #expect(text.contains("aifs_store_commit_seconds_bucket{le=\"0.0001\"} 0\n"))
    }
}

/// A small checker of the Prometheus text format 0.0.4: every line is `# HELP name text`,
/// `# TYPE name counter|gauge|histogram`, or a sample `name{label="value",…} number` of the
/// family declared last (for a histogram `_bucket` with `le`, `_sum`, `_count`); a family is
/// declared once; histogram buckets are cumulative and end with `+Inf` equal to `_count`.
/// Samples are kept by their name with labels as written, e.g. `aifs_tokens_total{direction="in"}`.
struct PrometheusText {
    struct Malformed: Error, CustomStringConvertible {
        let line: String, why: String
        var description: String { "\(why): \(line.debugDescription)" }
    }
    private(set) var types: [String: String] = [:]
    private(set) var samples: [String: Double] = [:]

    subscript(key: String) -> Double? { samples[key] }

    init(_ text: String) throws {
        guard text.hasSuffix("\n") else { throw Malformed(line: String(text.suffix(40)), why: "no final newline") }
        var family: String?
        var lastBucket: Double = 0
        for line in text.dropLast().split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            if line.hasPrefix("# HELP ") {
                let parts = line.dropFirst(7).split(separator: " ", maxSplits: 1)
                guard parts.count == 2, Self.isName(String(parts[0])) else { throw Malformed(line: line, why: "bad HELP") }
            } else if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ").map(String.init)
                guard parts.count == 2, Self.isName(parts[0]), ["counter", "gauge", "histogram"].contains(parts[1]) else {
                    throw Malformed(line: line, why: "bad TYPE")
                }
                guard types[parts[0]] == nil else { throw Malformed(line: line, why: "family declared twice") }
                types[parts[0]] = parts[1]
                family = parts[0]
                lastBucket = 0
            } else {
                guard let family, let type = types[family] else { throw Malformed(line: line, why: "sample before any TYPE") }
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) ?? Self.special(line[line.index(after: space)...]) else {
                    throw Malformed(line: line, why: "bad value")
                }
                let key = String(line[..<space])
                let name = String(key.prefix { $0 != "{" })
                guard Self.isName(name) else { throw Malformed(line: line, why: "bad name") }
                let allowed = type == "histogram" ? [family + "_bucket", family + "_sum", family + "_count"] : [family]
                guard allowed.contains(name) else { throw Malformed(line: line, why: "sample outside its family \(family)") }
                if key.count > name.count {
                    guard key.hasSuffix("}"), Self.labelsAreWellFormed(String(key.dropFirst(name.count + 1).dropLast())) else {
                        throw Malformed(line: line, why: "bad labels")
                    }
                }
                if name == family + "_bucket" {
                    guard key.contains("le=\""), value >= lastBucket else { throw Malformed(line: line, why: "bucket not cumulative") }
                    lastBucket = value
                }
                if name == family + "_count", samples[family + "_bucket{le=\"+Inf\"}"] != value {
                    throw Malformed(line: line, why: "count differs from the +Inf bucket")
                }
                guard samples.updateValue(value, forKey: key) == nil else { throw Malformed(line: line, why: "sample twice") }
            }
        }
    }

    static func special(_ text: Substring) -> Double? {
        switch text {
        case "+Inf": return .infinity
        case "-Inf": return -.infinity
        case "NaN": return .nan
        default: return nil
        }
    }

    static func isName(_ name: String) -> Bool {
        guard let first = name.first, first.isASCII, first.isLetter || first == "_" || first == ":" else { return false }
        return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == ":") }
    }

    /// `name="value"` pairs separated by commas; in a value only `\\`, `\"` and `\n` escapes.
    static func labelsAreWellFormed(_ text: String) -> Bool {
        var rest = Substring(text)
        while !rest.isEmpty {
            guard let equals = rest.firstIndex(of: "="), isName(String(rest[..<equals])) else { return false }
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"" else { return false }
            rest = rest.dropFirst()
            var closed = false
            while let c = rest.first {
                rest = rest.dropFirst()
                if c == "\\" {
                    guard let next = rest.first, ["\\", "\"", "n"].contains(next) else { return false }
                    rest = rest.dropFirst()
                } else if c == "\"" {
                    closed = true
                    break
                } else if c == "\n" {
                    return false
                }
            }
            guard closed else { return false }
            if rest.first == "," { rest = rest.dropFirst() } else if !rest.isEmpty { return false }
        }
        return true
    }
}
