#if canImport(Glibc)
import Glibc
#endif

/// Wall-clock time in seconds since the epoch, and its UTC ISO 8601 text (`2026-11-22T04:05:06Z`).
public enum WallClock {
    /// The current time; while a cluster entry is being applied on this thread, the entry's
    /// time instead (see ``applying(at:_:)``), so every daemon writes the same times.
    public static func now() -> Double {
        if let fixed = Override.current { return fixed }
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

extension WallClock {
    /// Runs `body` with ``now()`` answering `time` on this thread.
    public static func applying<T>(at time: Double, _ body: () throws -> T) rethrows -> T {
        let previous = Override.current
        Override.current = time
        defer { Override.current = previous }
        return try body()
    }

    /// A per-thread fixed time (a pthread key: the tailer is a plain thread, not a task).
    enum Override {
        nonisolated(unsafe) static let key: pthread_key_t = {
            var key = pthread_key_t()
            pthread_key_create(&key) { pointer in pointer?.deallocate() }
            return key
        }()

        static var current: Double? {
            get { pthread_getspecific(key).map { $0.load(as: Double?.self) } ?? nil }
            set {
                if let slot = pthread_getspecific(key) {
                    slot.storeBytes(of: newValue, as: Double?.self)
                } else if newValue != nil {
                    let slot = UnsafeMutableRawPointer.allocate(byteCount: MemoryLayout<Double?>.size, alignment: MemoryLayout<Double?>.alignment)
                    slot.storeBytes(of: newValue, as: Double?.self)
                    pthread_setspecific(key, slot)
                }
            }
        }
    }
}
