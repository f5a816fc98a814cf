import AIFSCore
import Foundation

/// One reading of a mount for `aifs top`: `/ai/metrics` (the daemon's totals) and each socket's
/// `ctl`, taken at one moment of a monotonic clock. Nothing else is read: `error` is consumed by
/// reading, so the error count comes from `ctl`'s `errors:` line.
struct TopSample {
    /// Monotonic seconds when it was taken.
    var time: Double
    /// `/ai/metrics` samples by `name{labels}` as written (`aifs_tokens_total{direction="out"}`).
    var metrics: [String: Double]
    var sockets: [String: CtlText]

    /// Reads the mount at `path`; throws when the mount does not answer.
    static func read(_ path: String) throws -> TopSample {
        let metricsText: String
        do {
            metricsText = try String(contentsOfFile: path + "/metrics", encoding: .utf8)
        } catch {
            throw CLIError("cannot read \(path)/metrics: is aifs mounted at \(path)? (\(error.localizedDescription))")
        }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        var sockets: [String: CtlText] = [:]
        for name in names where !SocketName.reserved.contains(name) {
            // A socket removed meanwhile, or an entry that is no socket, is left out.
            guard let text = try? String(contentsOfFile: "\(path)/\(name)/ctl", encoding: .utf8) else { continue }
            let ctl = CtlText(text)
            if ctl["tokens-out"] != nil { sockets[name] = ctl }
        }
        return TopSample(time: Self.now(), metrics: parseMetrics(metricsText), sockets: sockets)
    }

    /// The sample lines of the Prometheus text format, by `name{labels}`.
    static func parseMetrics(_ text: String) -> [String: Double] {
        var values: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        return values
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
