#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time in seconds since the epoch, and its UTC ISO 8601 text (`2026-11-22T04:05:06Z`).
public enum WallClock {
    public static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }

    public static func iso8601(_ seconds: Double, fraction: Bool = false) -> String {
        var t = time_t(seconds.rounded(.down))
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        var millis = ""
        if fraction {
            let ms = min(999, Int((seconds - seconds.rounded(.down)) * 1000))
            millis = "." + String(repeating: "0", count: 3 - String(ms).count) + String(ms)
        }
        return "\(parts.tm_year + 1900)-\(two(parts.tm_mon + 1))-\(two(parts.tm_mday))T\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec))\(millis)Z"
    }
}
