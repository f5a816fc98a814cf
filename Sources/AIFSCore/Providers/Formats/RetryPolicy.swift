import Foundation

/// When and how soon a failed model request is tried again.
///
/// Retried: connection errors and HTTP 429, 500, 502, 503, 504 and 529. Never retried: 400,
/// 401, 403, 404 and other 4xx. The wait before attempt n+1 is, in order of preference: the
/// server's `retry-after-ms` (milliseconds), its `retry-after` (seconds or an HTTP date), or
/// exponential backoff `baseDelay * 2^(n-1)` with full jitter; always capped at `maxDelay`.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(maxAttempts: Int = 4, baseDelay: Double = 0.5, maxDelay: Double = 20) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    public static func isRetryable(status: Int) -> Bool {
        [429, 500, 502, 503, 504, 529].contains(status)
    }

    /// Seconds to wait after failed attempt number `attempt` (1 for the first).
    public func delay(afterAttempt attempt: Int, retryAfterMs: String?, retryAfter: String?,
                      now: Date = Date(), random: Double = Double.random(in: 0..<1)) -> Double {
        if let text = retryAfterMs?.trimmingCharacters(in: .whitespaces), let ms = Double(text), ms >= 0 {
            return min(ms / 1000, maxDelay)
        }
        if let text = retryAfter?.trimmingCharacters(in: .whitespaces) {
            if let seconds = Double(text), seconds >= 0 { return min(seconds, maxDelay) }
            if let date = Self.httpDate(text) { return min(max(0, date.timeIntervalSince(now)), maxDelay) }
        }
        let exponential = baseDelay * pow(2, Double(max(0, attempt - 1)))
        return min(exponential, maxDelay) * random
    }

    /// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`).
    static func httpDate(_ text: String) -> Date? {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        return formatter.date(from: text)
    }
}
