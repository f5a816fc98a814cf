import CFuse3

extension FuseSession {
    /// The connection features a session asks the kernel for when it connects (libfuse's `init`
    /// callback). The defaults are libfuse's own; a filesystem whose semantics need otherwise
    /// says so, with its reason, where it creates the session.
    public struct Capabilities: Sendable, Equatable {
        /// Let the kernel cache writes and send them later, merged and page-sized
        /// (`FUSE_CAP_WRITEBACK_CACHE`). Off (libfuse's default), every `write(2)` reaches
        /// ``FileSystem/write(_:inode:handle:data:offset:info:)`` as the writer made it, in
        /// order, before `write(2)` returns.
        public var writebackCache: Bool
        /// Move request and reply data through pipes instead of copying it
        /// (`FUSE_CAP_SPLICE_READ`, `_WRITE`, `_MOVE`). On leaves libfuse's choice (splice for
        /// replies where the kernel offers it); off turns all three off, so every byte goes
        /// through the session's own buffer.
        public var splice: Bool

        public init(writebackCache: Bool = false, splice: Bool = true) {
            self.writebackCache = writebackCache
            self.splice = splice
        }

        /// Sets `conn->want` from these choices (each feature only where `conn->capable` has it).
        func apply(to conn: UnsafeMutablePointer<fuse_conn_info>) {
            cfuse_conn_want(conn, cfuse_cap_writeback_cache(), writebackCache ? 1 : 0)
            if !splice {
                cfuse_conn_want(conn, cfuse_cap_splice_read(), 0)
                cfuse_conn_want(conn, cfuse_cap_splice_write(), 0)
                cfuse_conn_want(conn, cfuse_cap_splice_move(), 0)
            }
        }
    }
}
