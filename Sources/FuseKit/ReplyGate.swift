#if canImport(Glibc)
import Glibc
#endif

/// Guards every call into libfuse that uses a request or session pointer from another thread.
///
/// Replies and notifications may come from any thread at any time, also while the session is
/// shutting down. Each such call runs under the gate's shared lock; `close()` takes the exclusive
/// lock once the loop has stopped, after which calls are dropped instead of touching freed memory.
/// A gate is never freed (it is retained for the life of the process), so a late reply can always
/// check it safely.
final class ReplyGate: @unchecked Sendable {
    private var lock = pthread_rwlock_t()
    private var closed = false

    init() {
        pthread_rwlock_init(&lock, nil)
    }

    /// Runs `body` if the session is still open; returns false (and skips it) once closed.
    @discardableResult
    func ifOpen(_ body: () -> Void) -> Bool {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        guard !closed else { return false }
        body()
        return true
    }

    /// Waits for calls in progress to finish, then drops every later one.
    func close() {
        pthread_rwlock_wrlock(&lock)
        closed = true
        pthread_rwlock_unlock(&lock)
    }

    var isClosed: Bool {
        pthread_rwlock_rdlock(&lock)
        defer { pthread_rwlock_unlock(&lock) }
        return closed
    }
}
