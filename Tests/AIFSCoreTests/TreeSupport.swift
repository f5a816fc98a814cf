@testable import AIFSCore
import Foundation
import FuseKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// The tree (`AIFileSystem`) driven in-process through FuseKit's `InProcessSession`: every
// errno row of docs/file-protocol.md, checked as the reply the kernel would get, with no mount.
//
// Errno rows of docs/file-protocol.md → the test that covers each one. Rows only the kernel
// can produce are covered by a mounted test (Tests/MountTests), named in the last column.
//
// `/ai` (root directory)
// | mkdir EEXIST (socket exists, fixed name)        | TreeRootTests.mkdirOfAnExistingOrFixedName
// | mkdir EINVAL (empty, >64, leading ., bad byte)  | TreeRootTests.mkdirOfABadName
// | mkdir ENOSPC (socket limit)                     | TreeRootTests.mkdirBeyondTheSocketLimit
// | rmdir EPERM (fixed directories)                 | TreeRootTests.rmdirOfFixedNames
// | rmdir EPERM (not root, owner or daemon's user)  | TreeRootTests.rmdirByAnotherUser
// | rmdir ENOTDIR (ctl, models)                     | TreeRootTests.rmdirOfFixedNames
// | rmdir ENOENT                                    | TreeRootTests.rmdirOfFixedNames
// | unlink EISDIR / EPERM / ENOENT                  | TreeRootTests.unlinkInTheRoot
// | rename EPERM (fixed source, not in /ai)         | TreeRootTests.renameRefusals
// | rename EXDEV / EINVAL / EEXIST / ENOENT         | TreeRootTests.renameRefusals
// | create EPERM                                    | TreeRootTests.createIsRefusedEverywhere
// | chmod / chown / truncate on /ai EPERM           | TreeRootTests.setattrOfTheRoot
//   (`mv a b` onto an existing b: EXDEV from mv's `b/a` and its copy fallback is the kernel's
//    and coreutils' path: MountTests TreeTests "rm -r, rmdir, mv work; …")
//
// `/ai/ctl`
// | write/close EINVAL (unknown, args, >4096, UTF-8, >64 KiB) | TreeDaemonTests.badDaemonCommands (write),
// |                                                           | TreeDaemonTests.partialLines (close)
// | write/close EINVAL (create: bad name, unknown model)      | TreeDaemonTests.createCommandRefusals
// | write/close EEXIST (create of an existing name)           | TreeDaemonTests.createCommandRefusals
// | write/close ENOSPC (create beyond the limit)              | TreeDaemonTests.createCommandRefusals
// | write/close EEXIST, EINVAL (snapshot existing/bad name)   | TreeSnapshotTests.daemonSnapshotCommandRefusals
// | write/close ENOENT (restore of a missing snapshot)        | TreeSnapshotTests.daemonRestoreOfAMissingSnapshot
// | write/close ENOTSUP (snapshot, restore, --store memory)   | TreeSnapshotTests.memoryStoreHasNoSnapshots
// | write/close EINVAL (reload of a bad configuration)        | TreeDaemonTests.reloadOfABadConfiguration
// | chmod / chown EPERM                                       | TreeDaemonTests.daemonControlAttributes
//
// `/ai/models`
// | open EACCES (O_WRONLY, O_RDWR)                  | TreeDaemonTests.modelsFile
// | truncate / chmod / chown EPERM                  | TreeDaemonTests.modelsFile
// | lookup below it ENOTDIR                         | TreeDaemonTests.modelsFile
//
// `/ai/team-chat-all/`
// | write input EFBIG (sticky, nothing sent)        | TreeTeamTests.oversizedTeamMessage
// | close input ENOENT (unknown [team-chat-to-X])   | TreeTeamTests.directedToAMissingSocket
// | close input ENXIO (no active socket)            | TreeTeamTests.broadcastWithNoActiveSocket
// | close input EHOSTDOWN, EAGAIN (no member took it)| TreeTeamTests.everyMemberRefuses
// | close input 0 (every copy queued)               | TreeTeamTests.aRoundCollectsEveryReply
// | read output EAGAIN, EINTR                       | TreeTeamTests.teamOutputNonBlockingAndInterrupted
// | close input EINVAL (fallback: [team-chat-to-X]) | TeamModeTests.fallbackRefusals
// | close input ENOENT (fallback: none is a socket) | TeamModeTests.fallbackRefusals
// | write ctl EINVAL (reason in error)              | TreeTeamTests.teamControl
// | write ctl EINVAL (mode fallback: names)         | TeamModeTests.control
// | open EACCES (wrong direction)                   | TreeTeamTests.teamDirectory
// | rmdir, rm -r EPERM                              | TreeTeamTests.teamDirectory
//
// Socket directory `/ai/NAME/`
// | chmod / chown dir EPERM (not owner; non-root uid change) | TreeSocketDirectoryTests.ownershipOfTheDirectory
// | truncate dir EISDIR                             | TreeSocketDirectoryTests.ownershipOfTheDirectory
// | open a file EACCES (wrong direction)            | TreeSocketDirectoryTests.openInTheWrongDirection
// | chmod / chown a file EPERM                      | TreeSocketDirectoryTests.filesRefuseOwnershipChanges
// | unlink a file: succeeds, does nothing           | TreeSocketDirectoryTests.namesInASocket
// | lookup below a file ENOTDIR                     | TreeSocketDirectoryTests.namesInASocket
//   (`EACCES` from the permission bits under `allow_other,default_permissions` is the
//    kernel's check: MountTests PermissionTests "a chmod 700 socket is closed to another user…")
//
// `input`
// | open EACCES                                     | TreeSocketDirectoryTests.openInTheWrongDirection
// | open EHOSTDOWN (reason in error)                | TreeInputTests.unresponsiveSocketRefusesOpen
// | write EAGAIN (queue full, reason in error)      | TreeInputTests.fullQueue
// | write EFBIG (sticky) / close EFBIG              | TreeInputTests.oversizedMessageIsSticky
// | close EAGAIN (queue filled before the commit)   | TreeInputTests.fullQueue
// | close EHOSTDOWN (unresponsive after the open)   | TreeInputTests.unresponsiveAfterTheOpen
// | close ENOENT (socket removed while open)        | TreeInputTests.socketRemovedWhileOpen
// | close EIO (the store could not write)           | TreeInputTests.storeFailures
// | close EIO (the daemon stopped while it waited)  | TreeInputTests.stopWhileTheCloseWaits
// | close ENOSPC (the store's disk is full)         | TreeInputTests.storeFailures
//
// `output`
// | open EACCES                                     | TreeSocketDirectoryTests.openInTheWrongDirection
// | read EAGAIN (O_NONBLOCK, would block)           | TreeOutputTests.nonBlockingAndPoll
// | read EIO (once per failed request)              | TreeOutputTests.failedRequestIsEIOOnce
// | read EIO (blocked when the daemon stops)        | TreeOutputTests.stopAnswersParkedReadersEIO
// | read EINTR (others not affected)                | TreeOutputTests.interruptedReader
// | truncate EPERM                                  | TreeSocketDirectoryTests.readOnlyFilesRefuseTruncate
//
// `error`
// | open EACCES                                     | TreeSocketDirectoryTests.openInTheWrongDirection
// | truncate EPERM                                  | TreeSocketDirectoryTests.readOnlyFilesRefuseTruncate
//
// `ctl` (per socket)
// | write EINVAL (bad line, >4096, UTF-8, >64 KiB)  | TreeControlTests.badLinesFailTheWrite
// | write ENOENT, ELOOP (wire)                      | TreeControlTests.wireRefusals
// | close EINVAL (trailing partial line)            | TreeControlTests.trailingPartialLine
// | truncate: accepted, does nothing                | TreeControlTests.trailingPartialLine
//
// `prompt`
// | write EFBIG                                     | TreePromptTests.promptLimits
// | truncate (path) EFBIG                           | TreePromptTests.promptLimits
// | close EFBIG (grew through ftruncate)            | TreePromptTests.promptLimits
//
// `chat`
// | open EHOSTDOWN                                  | TreeChatTests.chatRefusals
// | write EINVAL (already sent)                     | TreeChatTests.chatExchange
// | write EFBIG                                     | TreeChatTests.chatRefusals
// | read / close EAGAIN, EHOSTDOWN, ENOENT (refused)| TreeChatTests.refusedWhenSent
// | read EAGAIN (O_NONBLOCK while on its way)       | TreeChatTests.chatWaitsForItsReply
// | read EINTR                                      | TreeChatTests.chatWaitsForItsReply
// | read EIO (the request failed)                   | TreeChatTests.failedChatIsEIO
//
// `transcript`
// | open EACCES                                     | TreePromptTests.transcript, TreeSocketDirectoryTests.openInTheWrongDirection
// | truncate EPERM                                  | TreePromptTests.transcript, TreeSocketDirectoryTests.readOnlyFilesRefuseTruncate
//
// `/ai/snapshots/`
// | mkdir snapshots/NAME EINVAL / EEXIST            | TreeSnapshotTests.mkdirOfSnapshots
// | mkdir, create, open for writing, truncate, chmod inside EROFS | TreeSnapshotTests.insideASnapshotIsReadOnly
// | rmdir snapshots/NAME ENOENT                     | TreeSnapshotTests.deletingSnapshots
// | write `restore NAME` to /ai/ctl ENOENT          | TreeSnapshotTests.daemonRestoreOfAMissingSnapshot
// | write `restore NAME` to a socket's ctl ENOENT   | TreeSnapshotTests.socketRestoreRefusals
// | mkdir, snapshot, restore ENOTSUP (--store memory)| TreeSnapshotTests.memoryStoreHasNoSnapshots
//
// `/ai/memory/search/<query>`
// | open EACCES (for writing)                       | TreeSearchTests.searchDirectoryRefusals
// | open EINTR (interrupted while the query runs)   | TreeSearchTests.interruptedQuery
// | read EINVAL (after a bad query's text)          | TreeSearchTests.durableSearch
// | mkdir / unlink in search/ EPERM                 | TreeSearchTests.searchDirectoryRefusals
// | rmdir in search/ ENOTDIR                        | TreeSearchTests.searchDirectoryRefusals
// | rmdir memory, memory/search EPERM               | TreeSearchTests.searchDirectoryRefusals
// | --store memory: reason then EINVAL              | TreeSearchTests.memoryStoreSearch
//
// Beyond the tables: errnos the code answers that docs/file-protocol.md's tables do not list.
// | input close EINVAL (headers, no content)        | TreeInputTests.headersWithoutContent
// | team-chat-all close input EINVAL (headers only) | TreeTeamTests.teamHeadersWithoutContent
// | team-chat-all close input EACCES (not writable) | TreeTeamTests.teamRespectsSocketModes
// | ctl write EPERM (reset, restore by another user)| TreeControlTests.reset, TreeSnapshotTests.socketRestoreRefusals
// | ctl write EACCES (wire to an unwritable socket) | TreeControlTests.wireToAnotherUsersSocket
// | chgrp dir EPERM (owner, to a group not theirs)  | TreeSocketDirectoryTests.ownershipOfTheDirectory
//   (a non-root owner may give the socket only to their own gid; see docs/file-protocol.md)
//
// Two bugs these tests found, now fixed (TreeChatPollTests): a chat message refused when a poll
// sent it was lost to the next read and close; a chat descriptor never polled writable.
//
// Only the kernel (mounted tests):
// - ENOTCONN after unmount, and `EIO` to every parked request when the process gets SIGTERM:
//   MountTests LifecycleTests "SIGTERM unmounts cleanly and a parked reader gets an error…",
//   FaultTests "fusermount3 -u with parked readers…" (the in-process sweep at stop is
//   TreeOutputTests.stopAnswersParkedReadersEIO and TreeInputTests.stopWhileTheCloseWaits).
// - EACCES from permission bits (`default_permissions`): MountTests PermissionTests.
// - `mknod`/`symlink`/`link` EPERM, `readlink` EINVAL, the xattr calls: answered by FuseKit's
//   own ops table, not `AIFileSystem`: MountTests TreeTests "reading input and writing output
//   are refused; unlink inside a socket is a no-op; no extended attributes".
// - ENOSPC/EIO of a real disk: MountTests FaultTests "the store's disk full…" (in-process with a
//   failing store: TreeInputTests.storeFailures).

extension InProcessSession: KernelCacheInvalidator {}

/// Who makes requests in these tests. The daemon runs as uid 500, so the test's own uid (often
/// root) never counts as the daemon's user.
enum Callers {
    static let daemon = RequestContext(uid: 500, gid: 500, pid: 10)
    static let user = RequestContext(uid: 1000, gid: 1000, pid: 11)
    static let other = RequestContext(uid: 2000, gid: 2000, pid: 12)
    static let root = RequestContext(uid: 0, gid: 0, pid: 13)
}

/// Which store a tree runs on.
enum TreeStore {
    /// `--store memory`.
    case memory
    /// A `SQLiteStore` in a fresh temporary directory, removed afterwards.
    case durable
    /// A ``FaultStore`` the test steers.
    case faulty(FaultStore)
}

/// One daemon's tree in-process: the filesystem, a session driving it, and what the test steers.
final class Tree: Sendable {
    let fs: AIFileSystem
    let session: InProcessSession
    let provider: GateProvider
    let store: any SocketStore
    private let directory: String?
    private let faults: FaultStore?

    var registry: SocketRegistry { fs.registry }
    var environment: SocketEnvironment { fs.registry.environment }

    init(store kind: TreeStore, limits: Limits, caller: RequestContext) throws {
        provider = GateProvider()
        switch kind {
        case .memory:
            store = InMemoryStore()
            directory = nil
            faults = nil
        case .durable:
            let directory = NSTemporaryDirectory() + "aifs-tree-test-\(UUID().uuidString.prefix(8))"
            let sqlite = try SQLiteStore(options: StoreOptions(path: directory + "/aifs.db"))
            _ = try sqlite.load()
            store = sqlite
            self.directory = directory
            faults = nil
        case .faulty(let faultStore):
            store = faultStore
            directory = nil
            faults = faultStore
        }
        let catalog = ModelCatalog(modelIDs: ["echo", "echo/slow"] + GateProvider.models, defaultModel: "echo",
                                   providers: ["echo": EchoProvider(), "t": provider])
        let environment = SocketEnvironment(store: store, catalog: catalog, limits: limits)
        fs = AIFileSystem(registry: SocketRegistry(environment: environment),
                          identity: DaemonIdentity(version: "test", mountpoint: "/tmp/aifs-tree-test", uid: Callers.daemon.uid,
                                                   gid: Callers.daemon.gid))
        session = InProcessSession(fileSystem: fs, caller: caller)
        fs.setInvalidator(session)
    }

    /// Stops the session (every parked request gets `EIO`), lets held work go, closes the store
    /// (on a thread of its own: closing waits for the writer) and removes its directory.
    func close() async {
        await session.stop()
        provider.close()
        faults?.releaseAll()
        let store = self.store
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                store.close()
                continuation.resume()
            }.start()
        }
        if let directory { try? FileManager.default.removeItem(atPath: directory) }
    }

    // MARK: Names

    static let root = InodeScheme.root

    /// The inode of a socket's directory (nil) or file.
    func inode(_ socket: SocketID, _ file: SocketFile? = nil) -> Inode { InodeScheme.inode(socket: socket, file: file) }

    /// `mkdir /ai/NAME`; the new socket's id.
    @discardableResult
    func mkdir(_ name: String, mode: UInt32 = 0o755, as caller: RequestContext? = nil) async throws -> SocketID {
        let reply = try await session.mkdir(parent: Self.root, name: name, mode: mode, as: caller).reply
        let entry = try #require(reply.entry, "mkdir \(name): \(reply)")
        return entry.attributes.inode >> 4
    }

    /// The entry `name` in `parent`, or the lookup's errno.
    func lookup(_ parent: Inode, _ name: String) async throws -> Reply {
        try await session.lookup(parent: parent, name: name).reply
    }

    /// Names listed in directory `inode`, `.` and `..` included.
    func list(_ inode: Inode) async throws -> [String] {
        let directory = try await session.opendir(inode: inode).file
        let listing = try await session.readdir(directory, size: 1 << 16).reply.listing
        _ = try await session.releasedir(directory).reply
        return try #require(listing).map(\.name)
    }

    // MARK: Files

    func open(_ socket: SocketID, _ file: SocketFile, _ flags: Int32 = O_RDONLY, as caller: RequestContext? = nil) async throws
        -> InProcessSession.File {
        try await session.open(inode: inode(socket, file), flags: flags, as: caller).file
    }

    /// The errno an open answers, nil if it opened (the file is released again).
    func openError(_ inode: Inode, _ flags: Int32, as caller: RequestContext? = nil) async throws -> Errno? {
        let request = session.open(inode: inode, flags: flags, as: caller)
        if let errno = try await request.reply.errno { return errno }
        _ = try await session.release(request.file).reply
        return nil
    }

    /// One message: open `input`, write, close. The close's answer.
    @discardableResult
    func send(_ socket: SocketID, _ text: String, as caller: RequestContext? = nil) async throws -> Reply {
        let input = try await open(socket, .input, O_WRONLY, as: caller)
        let written = try await session.write(input, text).reply
        guard written == .written(text.utf8.count) else {
            _ = try await session.release(input).reply
            return written
        }
        let closed = try await session.flush(input).reply
        _ = try await session.release(input).reply
        return closed
    }

    /// Reads an open stream until end of file; throws the errno a read answers.
    func readToEnd(_ file: InProcessSession.File, size: Int = 65_536) async throws -> String {
        var bytes: [UInt8] = []
        while true {
            let reply = try await session.read(file, size: size, offset: Int64(bytes.count)).reply
            if let errno = reply.errno { throw errno }
            let chunk = try #require(reply.bytes, "read: \(reply)")
            if chunk.isEmpty { return String(decoding: bytes, as: UTF8.self) }
            bytes += chunk
        }
    }

    /// `cat FILE` of a socket's file: opened, read to the end, released.
    func cat(_ socket: SocketID, _ file: SocketFile) async throws -> String {
        try await cat(inode(socket, file))
    }

    func cat(_ inode: Inode, as caller: RequestContext? = nil) async throws -> String {
        let file = try await session.open(inode: inode, flags: O_RDONLY, as: caller).file
        defer { session.release(file) }
        return try await readToEnd(file)
    }

    /// What a write of `text` to a ctl file and its close answer, on one descriptor.
    func writeControl(_ inode: Inode, _ text: String, as caller: RequestContext? = nil) async throws -> (write: Reply, close: Reply) {
        try await writeControl(inode, Array(text.utf8), as: caller)
    }

    func writeControl(_ inode: Inode, _ bytes: [UInt8], as caller: RequestContext? = nil) async throws -> (write: Reply, close: Reply) {
        let file = try await session.open(inode: inode, flags: O_WRONLY | O_TRUNC, as: caller).file
        let write = try await session.write(file, bytes).reply
        let close = try await session.flush(file).reply
        _ = try await session.release(file).reply
        return (write, close)
    }

    /// `echo TEXT > /ai/NAME/ctl`.
    func control(_ socket: SocketID, _ text: String, as caller: RequestContext? = nil) async throws -> (write: Reply, close: Reply) {
        try await writeControl(inode(socket, .ctl), text, as: caller)
    }

    /// The `key: value` of a ctl text.
    static func value(_ key: String, in text: String) -> String? {
        text.split(separator: "\n").first { $0.hasPrefix(key + ": ") }.map { String($0.dropFirst(key.count + 2)) }
    }

    /// The errno of a `setattr`, nil when it succeeded.
    func setattrError(_ inode: Inode, _ changes: SetAttributes, file: InProcessSession.File? = nil,
                      as caller: RequestContext? = nil) async throws -> Errno? {
        try await session.setattr(inode: inode, changes: changes, file: file, as: caller).reply.errno
    }
}

/// Runs `body` with a fresh tree and always stops it (and removes its store) afterwards, also
/// when `body` throws.
func withTree(_ store: TreeStore = .memory, limits: Limits = Limits(), caller: RequestContext = Callers.user,
              _ body: (Tree) async throws -> Void) async throws {
    let tree = try Tree(store: store, limits: limits, caller: caller)
    do {
        try await body(tree)
    } catch {
        await tree.close()
        throw error
    }
    await tree.close()
}

extension Limits {
    /// The defaults with some limits changed.
    static func with(_ change: (inout Limits) -> Void) -> Limits {
        var limits = Limits()
        change(&limits)
        return limits
    }
}
