import CFuse3
import Synchronization

/// The kernel's handle for a `poll(2)` waiting on one open file.
///
/// Answer `poll` at once with the current readiness; keep only the newest handle per open file
/// (replacing one destroys the old); when the file becomes ready, call ``notify()``. A handle is
/// notified at most once; an unused one is destroyed when released.
public final class PollHandle: @unchecked Sendable {
    private let raw: Mutex<UInt>  // the fuse_pollhandle's address; 0 once used
    private let gate: Unmanaged<ReplyGate>

    init(raw: OpaquePointer, gate: Unmanaged<ReplyGate>) {
        self.raw = Mutex(UInt(bitPattern: raw))
        self.gate = gate
    }

    /// Tells the kernel to poll this file again; any thread.
    public func notify() {
        guard let handle = OpaquePointer(bitPattern: raw.withLock({ value in defer { value = 0 }; return value })) else { return }
        gate.takeUnretainedValue().ifOpen {
            _ = fuse_lowlevel_notify_poll(handle)
            fuse_pollhandle_destroy(handle)
        }
    }

    deinit {
        if let handle = OpaquePointer(bitPattern: raw.withLock({ value in defer { value = 0 }; return value })) {
            gate.takeUnretainedValue().ifOpen { fuse_pollhandle_destroy(handle) }
        }
    }
}
