/// The text of `/ai/metrics`: the Prometheus text exposition format, version 0.0.4 (`# HELP`,
/// `# TYPE`, then the samples), every name prefixed `aifs_`. Generated whole at each open from
/// one copy of the counters (``DaemonCounters``), the store's commit histogram and the gauges
/// read then, so one read sees one consistent moment of the counters.
public enum MetricsText {
    /// The gauges, read when the file is opened.
    public struct Gauges: Sendable, Equatable {
        public var sockets = 0
        public var queuedMessages = 0
        public var requestsInFlight = 0
        public var parkedReaders = 0
        public var storeBytes = 0
        public init() {}
    }

    public static func render(_ counters: DaemonCounters.Values, outputBytes: Int, commitSeconds: Histogram,
                              gauges: Gauges) -> String {
        var out = ""
        out.reserveCapacity(4096)
        func family(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        func sample(_ name: String, _ value: String) { out += "\(name) \(value)\n" }
        func labeled(_ name: String, _ labels: String, _ value: String) { out += "\(name){\(labels)} \(value)\n" }
        func histogram(_ name: String, _ help: String, _ h: Histogram) {
            family(name, "histogram", help)
            for (bound, count) in zip(h.bounds.map(number) + ["+Inf"], h.cumulative) {
                labeled(name + "_bucket", "le=\"\(bound)\"", "\(count)")
            }
            sample(name + "_sum", number(h.sum))
            sample(name + "_count", "\(h.count)")
        }

        family("aifs_requests_total", "counter", "Model requests that ended on this daemon (compactions too), by outcome.")
        labeled("aifs_requests_total", "outcome=\"completed\"", "\(counters.completed)")
        labeled("aifs_requests_total", "outcome=\"failed\"", "\(counters.failed)")
        labeled("aifs_requests_total", "outcome=\"cancelled\"", "\(counters.cancelled)")
        family("aifs_messages_total", "counter", "Messages that joined a socket's queue on this daemon.")
        sample("aifs_messages_total", "\(counters.messages)")
        family("aifs_tokens_total", "counter", "Tokens the providers reported for requests run here, by direction.")
        labeled("aifs_tokens_total", "direction=\"in\"", "\(counters.tokensIn)")
        labeled("aifs_tokens_total", "direction=\"out\"", "\(counters.tokensOut)")
        family("aifs_input_bytes_total", "counter", "Bytes of the messages that joined a queue.")
        sample("aifs_input_bytes_total", "\(counters.inputBytes)")
        family("aifs_output_bytes_total", "counter", "Bytes of reply text streamed by requests run here.")
        sample("aifs_output_bytes_total", "\(outputBytes)")
        family("aifs_tool_calls_total", "counter", "Tool results of requests run here, by status.")
        for (status, count) in counters.toolCalls.sorted(by: { $0.key < $1.key }) {
            labeled("aifs_tool_calls_total", "status=\"\(escape(status))\"", "\(count)")
        }

        histogram("aifs_request_duration_seconds", "Seconds from a request's start to its end.", counters.requestSeconds)
        histogram("aifs_time_to_first_token_seconds", "Seconds from a request's start to its first reply text.",
                  counters.firstTokenSeconds)
        histogram("aifs_store_commit_seconds", "Seconds one store transaction (a batch of writes) took.", commitSeconds)

        family("aifs_sockets", "gauge", "Sockets of this daemon.")
        sample("aifs_sockets", "\(gauges.sockets)")
        family("aifs_queued_messages", "gauge", "Messages waiting in the sockets' queues.")
        sample("aifs_queued_messages", "\(gauges.queuedMessages)")
        family("aifs_requests_in_flight", "gauge", "Requests running on this daemon.")
        sample("aifs_requests_in_flight", "\(gauges.requestsInFlight)")
        family("aifs_parked_readers", "gauge", "Reads of output files waiting for a reply.")
        sample("aifs_parked_readers", "\(gauges.parkedReaders)")
        family("aifs_store_bytes", "gauge", "Bytes of the SQLite database and its WAL (0 for --store memory).")
        sample("aifs_store_bytes", "\(gauges.storeBytes)")
        return out
    }

    /// A sample value or bound: integers without a fraction, the rest as Swift prints them
    /// (`0.005`, `1e-05`), both of which the format's float syntax accepts.
    static func number(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// A label value: backslash, double quote and newline escaped, as the format requires.
    static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}

extension AIFileSystem {
    /// Says where the `[metrics] listen` listener serves (`/ai/ctl`'s `metrics-listen:` line).
    public func setMetricsEndpoint(_ address: ListenAddress) {
        metricsEndpoint.withLock { $0 = "http://\(address)/metrics" }
    }

    /// The text of `/ai/metrics`, read now (one lock per socket for the gauges).
    public func metricsText() -> String {
        var gauges = MetricsText.Gauges()
        let counters = environment.counters
        let values = counters.snapshot
        for socket in registry.all() {
            gauges.sockets += 1
            let waiting = socket.waiting
            gauges.queuedMessages += waiting.queued
            gauges.parkedReaders += waiting.parkedReaders
        }
        gauges.parkedReaders += registry.team.parkedReaders
        gauges.requestsInFlight = values.inFlight
        gauges.storeBytes = environment.store.fileBytes
        return MetricsText.render(values, outputBytes: counters.outputBytes,
                                  commitSeconds: environment.store.statistics.commitSeconds, gauges: gauges)
    }
}
