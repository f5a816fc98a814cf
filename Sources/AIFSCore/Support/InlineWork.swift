import Glibc

/// Work that runs on the FUSE loop thread right after the current request's handler (or on
/// the store's writer thread right after a commit), instead of waking another thread for it.
///
/// A handler that may start work (the flush of `input`, a `ctl` write) opens a scope with
/// ``begin()`` and closes it with ``end()`` once it holds no lock. Code deep inside — a socket
/// starting its next request while its lock is held — calls ``defer(_:)``: inside a scope the
/// work is queued and runs at ``end()``, on this thread, after every lock is released and
/// after the handler has answered; outside one (a provider's task) it returns false and the
/// caller hands the work to a task as before. The store's writer opens a scope around the
/// acknowledgements of a commit too (`SQLiteStore.answer`), so that an `echo` reply is ready
/// before the writer's `close()` returns. Work queued while the queue is draining (the next message of a
/// queue, a wired socket's request) joins the same drain, so nothing recurses.
///
/// The queue is per thread; only the thread that opened a scope touches it.
enum InlineWork {
    /// One thread's queue and how many scopes are open on it.
    private final class Queue {
        var items: [() -> Void] = []
        var depth = 0
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<AnyObject>.fromOpaque(pointer).release() }
        }
        return key
    }()

    private static func queue(creating: Bool) -> Queue? {
        if let pointer = pthread_getspecific(key) {
            return Unmanaged<AnyObject>.fromOpaque(pointer).takeUnretainedValue() as? Queue
        }
        guard creating else { return nil }
        let queue = Queue()
        pthread_setspecific(key, Unmanaged.passRetained(queue as AnyObject).toOpaque())
        return queue
    }

    /// Opens a scope on this thread.
    static func begin() {
        queue(creating: true)!.depth += 1
    }

    /// Closes the scope; the outermost one runs everything queued, in order. Call with no
    /// lock held.
    static func end() {
        guard let queue = queue(creating: false), queue.depth > 0 else { return }  // no scope open
        guard queue.depth == 1 else {
            queue.depth -= 1
            return
        }
        var index = 0
        while index < queue.items.count {
            let item = queue.items[index]
            index += 1
            item()
        }
        queue.items.removeAll(keepingCapacity: queue.items.capacity <= 64)
        queue.depth = 0
    }

    /// Queues `work` to run at the end of this thread's scope; false (nothing queued) when no
    /// scope is open here.
    static func `defer`(_ work: @escaping () -> Void) -> Bool {
        guard let queue = queue(creating: false), queue.depth > 0 else { return false }
        queue.items.append(work)
        return true
    }
}
