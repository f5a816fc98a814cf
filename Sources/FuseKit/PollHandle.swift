import CFuse3
import Synchronization

/// The kernel's handle for a `poll(2)` waiting on one open file.
///
/// Answer `poll` at once with the current readiness; keep only the newest handle per open file
/// (replacing one destroys the old); when the file becomes ready, call ``notify()``. A handle is
/// notified at most once; an unused one is destroyed when released.
///
/// A handle made by an ``InProcessSession`` records its notification on the poll's
/// ``TestRequest`` instead of telling the kernel.
public final class PollHandle: @unchecked Sendable {
    /// The fuse_pollhandle's address (any non-zero value for a test handle); 0 once used.
    private let raw: Mutex<UInt>
    private let gate: Unmanaged<ReplyGate>
    /// The poll request that records a test handle's notification; nil for the kernel's.
    private let test: TestRequest?

    init(raw: OpaquePointer, gate: Unmanaged<ReplyGate>) {
        self.raw = Mutex(UInt(bitPattern: raw))
        self.gate = gate
        self.test = nil
    }

    /// A handle for the poll request `test`.
    init(test: TestRequest) {
        self.raw = Mutex(1)
        self.gate = Unmanaged.passUnretained(test.session.gate)  // `test` keeps the session alive
        self.test = test
    }

    /// Takes the handle; 0 if it was used already.
    private func take() -> UInt {
        raw.withLock { value in
            defer { value = 0 }
            return value
        }
    }

    /// Tells the kernel to poll this file again; any thread.
    public func notify() {
        let value = take()
        guard value != 0 else { return }
        if let test {
            gate.takeUnretainedValue().ifOpen { test.notePollNotified() }
            return
        }
        let handle = OpaquePointer(bitPattern: value)!
        gate.takeUnretainedValue().ifOpen {
            _ = fuse_lowlevel_notify_poll(handle)
            fuse_pollhandle_destroy(handle)
        }
    }

    deinit {
        let value = take()
        guard value != 0 else { return }
        if let test {
            test.notePollHandleDestroyed()
            return
        }
        let handle = OpaquePointer(bitPattern: value)!
        gate.takeUnretainedValue().ifOpen { fuse_pollhandle_destroy(handle) }
    }
}
