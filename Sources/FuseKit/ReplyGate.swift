import Synchronization
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
    /// The open-file handles (`fi->fh`, each a retained object) the kernel holds: it gives each
    /// back with `release`/`releasedir`, except those still open when the session ends.
    private let lent = Mutex(Set<UInt64>())

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

    /// Notes a handle before the kernel can see it (so its `release` always finds it).
    func lend(_ fh: UInt64) {
        guard fh != 0 else { return }
        _ = lent.withLock { $0.insert(fh) }
    }

    /// Takes a handle back; false if it was not lent (it must then not be released again).
    func takeBack(_ fh: UInt64) -> Bool {
        guard fh != 0 else { return false }
        return lent.withLock { $0.remove(fh) != nil }
    }

    /// How many handles are lent right now.
    var lentCount: Int { lent.withLock { $0.count } }

    /// Every handle still lent: once the session has ended, no `release` will come for them.
    func takeBackAll() -> [UInt64] {
        lent.withLock { handles in
            defer { handles.removeAll() }
            return Array(handles)
        }
    }
}
