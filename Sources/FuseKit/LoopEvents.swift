import CFuse3
#if canImport(Glibc)
import Glibc
#endif

/// What the FUSE loop thread waits for: a request on the device, the wake-up of ``FuseSession/stop()``,
/// and a change of the mount table (a lazy unmount from outside). One epoll set, made once;
/// level-triggered, so a request not read yet is reported again.
struct LoopEvents {
    /// What one wait found.
    struct Ready: OptionSet {
        let rawValue: UInt8
        static let request = Ready(rawValue: 1)
        /// The device reported an error or hang-up: the connection is gone.
        static let deviceClosed = Ready(rawValue: 2)
        static let wake = Ready(rawValue: 4)
        static let mountTable = Ready(rawValue: 8)
    }

    private enum Tag: UInt64 { case device, wake, mountTable }
    private let epoll: Int32

    /// Nil, with errno set, if the set cannot be made (out of descriptors or memory).
    init?(device: Int32, wake: Int32, mountTable: Int32?) {
        epoll = epoll_create1(Int32(EPOLL_CLOEXEC))
        guard epoll >= 0 else { return nil }
        guard add(device, events: EPOLLIN.rawValue, tag: .device),
              add(wake, events: EPOLLIN.rawValue, tag: .wake),
              mountTable.map({ add($0, events: EPOLLPRI.rawValue, tag: .mountTable) }) ?? true else {
            let saved = errno
            close()
            errno = saved
            return nil
        }
    }

    private func add(_ fd: Int32, events: UInt32, tag: Tag) -> Bool {
        var event = epoll_event()
        event.events = events
        event.data.u64 = tag.rawValue
        return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0
    }

    /// Blocks until something is ready; nil if waiting failed (the loop ends).
    func wait() -> Ready? {
        var events = (epoll_event(), epoll_event(), epoll_event())
        while true {
            let count = withUnsafeMutableBytes(of: &events) { raw in
                epoll_wait(epoll, raw.baseAddress!.assumingMemoryBound(to: epoll_event.self), 3, -1)
            }
            if count < 0 {
                if errno == EINTR { continue }
                return nil
            }
            var ready: Ready = []
            withUnsafeBytes(of: &events) { raw in
                for event in raw.bindMemory(to: epoll_event.self).prefix(Int(count)) {
                    switch Tag(rawValue: event.data.u64) {
                    case .device:
                        if event.events & (EPOLLERR.rawValue | EPOLLHUP.rawValue) != 0 { ready.insert(.deviceClosed) }
                        if event.events & EPOLLIN.rawValue != 0 { ready.insert(.request) }
                    case .wake: ready.insert(.wake)
                    case .mountTable: ready.insert(.mountTable)
                    case nil: break
                    }
                }
            }
            return ready
        }
    }

    func close() { _ = Glibc.close(epoll) }
}
