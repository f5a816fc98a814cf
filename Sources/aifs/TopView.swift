import Foundation

/// What `aifs top` sorts the sockets by (`--sort`, or `s` to cycle).
enum TopSort: String, CaseIterable {
    /// Output tokens per second, highest first.
    case rate
    /// Output tokens so far, most first.
    case tokens
    case name
    /// Last request latency, slowest first.
    case latency
    /// Error lines, most first.
    case errors
    /// Queued messages, most first.
    case queued

    var next: TopSort { Self.allCases[(Self.allCases.firstIndex(of: self)! + 1) % Self.allCases.count] }
}

/// One socket's line: its `ctl` now, and its output token rate since the previous sample.
struct TopRow {
    var name: String
    var model: String
    var state: String
    var queued: Int
    var inFlight: Int
    var tokensIn: Int
    var tokensOut: Int
    /// Output tokens per second since the previous sample; nil for a socket new since then.
    var rate: Double?
    var latency: Double?
    var errors: Int
}

/// Turns two samples into the lines of a frame: a header with the daemon's totals, then a
/// table of the sockets, sorted, cut to the terminal's size.
struct TopView {
    var mountpoint: String
    var interval: Double
    var sort: TopSort
    /// Whether the keys line is shown (interactive).
    var interactive: Bool

    /// Output tokens per second between `previous` and `current`, from a counter in both.
    static func rate(_ now: Double?, _ before: Double?, seconds: Double) -> Double? {
        guard let now, let before, seconds > 0, now >= before else { return nil }
        return (now - before) / seconds
    }

    func rows(_ current: TopSample, previous: TopSample?) -> [TopRow] {
        let seconds = previous.map { current.time - $0.time } ?? 0
        var rows = current.sockets.map { name, ctl -> TopRow in
            let int = { (key: String) in Int(ctl[key] ?? "") ?? 0 }
            let out = Double(int("tokens-out"))
            let before = previous?.sockets[name].flatMap { $0["tokens-out"] }.flatMap(Double.init)
            return TopRow(name: name, model: ctl["model"] ?? "-", state: ctl["state"] ?? "-", queued: int("queued"),
                          inFlight: int("in-flight"), tokensIn: int("tokens-in"), tokensOut: int("tokens-out"),
                          rate: Self.rate(out, before, seconds: seconds), latency: ctl["last-latency"].flatMap(Double.init),
                          errors: int("errors"))
        }
        rows.sort { a, b in
            func key(_ r: TopRow) -> Double {
                switch sort {
                case .rate: return r.rate ?? -1
                case .tokens: return Double(r.tokensOut)
                case .name: return 0
                case .latency: return r.latency ?? -1
                case .errors: return Double(r.errors)
                case .queued: return Double(r.queued)
                }
            }
            let (ka, kb) = (key(a), key(b))
            return ka != kb ? ka > kb : a.name < b.name
        }
        return rows
    }

    static let columns = ["SOCKET", "MODEL", "STATE", "QUEUED", "IN-FLIGHT", "TOK/S", "TOKENS-IN", "TOKENS-OUT", "LAST-LATENCY", "ERRORS"]

    /// The frame, at most `size.rows` lines of at most `size.columns` characters.
    func frame(_ current: TopSample, previous: TopSample?, size: (columns: Int, rows: Int), clock: String) -> [String] {
        let m = current.metrics
        let seconds = previous.map { current.time - $0.time } ?? 0
        let outKey = "aifs_tokens_total{direction=\"out\"}"
        let total = Self.rate(m[outKey], previous?.metrics[outKey], seconds: seconds)
        func count(_ key: String) -> String { m[key].map { String(Int($0)) } ?? "-" }
        var lines = [
            "aifs top \(mountpoint)  \(clock)  every \(Self.number(interval))s  sort: \(sort.rawValue)"
                + (interactive ? "  (q quits, s sorts)" : ""),
            "sockets \(count("aifs_sockets"))  in flight \(count("aifs_requests_in_flight"))  queued \(count("aifs_queued_messages"))"
                + "  requests \(count("aifs_requests_total{outcome=\"completed\"}")) completed"
                + " \(count("aifs_requests_total{outcome=\"failed\"}")) failed"
                + " \(count("aifs_requests_total{outcome=\"cancelled\"}")) cancelled"
                + "  tokens in \(count("aifs_tokens_total{direction=\"in\"}")) out \(count(outKey))"
                + "  \(total.map(Self.rate) ?? "-") tok/s out",
            "",
        ]
        let rows = rows(current, previous: previous)
        var table = [Self.columns]
        for r in rows {
            table.append([r.name, r.model, r.state, "\(r.queued)", "\(r.inFlight)", r.rate.map(Self.rate) ?? "-",
                          "\(r.tokensIn)", "\(r.tokensOut)", r.latency.map(Self.latency) ?? "-", "\(r.errors)"])
        }
        let room = max(1, size.rows - lines.count)
        var body = Self.table(table)
        if body.count > room {
            let hidden = body.count - (room - 1)
            body = Array(body.prefix(room - 1)) + ["... \(hidden) more sockets"]
        }
        if rows.isEmpty { body.append("(no sockets)") }
        lines += body
        return lines.prefix(max(1, size.rows)).map { Self.cut($0, to: size.columns) }
    }

    /// Columns two spaces apart: the first three left-aligned, the numbers right-aligned.
    static func table(_ rows: [[String]]) -> [String] {
        let widths = rows[0].indices.map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return column < 3 ? cell + pad : pad + cell
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
    }

    static func cut(_ line: String, to columns: Int) -> String {
        line.count <= columns ? line : String(line.prefix(max(0, columns)))
    }

    /// A rate: one decimal (`12.5`).
    static func rate(_ value: Double) -> String { String(format: "%.1f", value) }

    /// A latency: `85us`, `0.4ms`, `12ms`, `1.84s`.
    static func latency(_ seconds: Double) -> String {
        if seconds < 0.001 { return String(format: "%.0fus", seconds * 1_000_000) }
        if seconds < 0.01 { return String(format: "%.1fms", seconds * 1000) }
        if seconds < 1 { return String(format: "%.0fms", seconds * 1000) }
        return String(format: "%.2fs", seconds)
    }

    static func number(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(format: "%g", value)
    }
}
