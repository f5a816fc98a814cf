import Foundation
import FuseKit
import GRDB
import Logging
import Synchronization

/// The durable store: one SQLite database (WAL) holding every socket's settings, prompt,
/// context, queue, unread `output` and `error`, transcript, and the memories with their FTS5
/// index.
///
/// **Writes** go through one writer thread. Callers only append events to a queue (a short
/// lock) and return; the writer takes everything queued so far and applies it in one
/// transaction, then calls the `done` callbacks of that batch. Under load many messages from
/// many sockets share a transaction (group commit); when idle a message commits alone at once.
///
/// **Reads** (memory search) run on their own queue against WAL snapshots, never blocking the
/// writer. `load()` runs once, before the mount.
///
/// **Files deleted under the daemon.** SQLite would go on writing to the unlinked files, and
/// everything, acknowledged messages included, would vanish at the next mount. So before each
/// batch, and once a second when idle, the writer checks that the database, its `-wal` and
/// `-shm` and the lock file are still the files it opened (device and inode). If any was
/// deleted, it writes a complete copy of the open database back to the path (`VACUUM INTO`)
/// and goes on with that copy: nothing is lost. If the path now holds another file (replaced),
/// it saves a copy of its own database next to it (`PATH.saved-TIME`) and refuses every later
/// write with `EIO` until the next mount, which uses the new file. See docs/fault-tolerance.md.
///
/// This file holds opening, the writer thread, loading and that recovery; memory search is in
/// `SQLiteStore+Search.swift`, snapshots in `SQLiteStore+Snapshots.swift`, the writer's inbox
/// in `EventQueue.swift` and the file identities it checks in `StoreFiles.swift`.
public final class SQLiteStore: SocketStore, @unchecked Sendable {
    public let options: StoreOptions
    /// The open database; replaced (on the writer thread) when its files were deleted.
    private let current: Mutex<DatabasePool>
    var pool: DatabasePool { current.withLock { $0 } }
    /// Pools of files that were deleted: kept open until ``close()``, because closing the last
    /// connection to the old files deletes the `-wal` and `-shm` *names*, which the new files use.
    private var retired: [DatabasePool] = []
    private let configuration: GRDB.Configuration
    private var files: StoreFiles
    private let pending = EventQueue()
    let searchQueue = DispatchQueue(label: "aifs.store.search", attributes: .concurrent)
    /// At most two memory searches run at once (SQLiteStore+Search.swift).
    let searchSlots = DispatchSemaphore(value: 2)
    private let logger = Logger(label: "aifs.store")
    private let writerDone = DispatchSemaphore(value: 0)
    private let started = Mutex(false)
    private let retention: RetentionRunner
    private var lockFD: Int32
    private var checkpointer: Checkpointer
    /// The path holds another database now: every write is refused until the next mount.
    private var replaced = false
    /// A failed attempt to write the deleted files again is retried after this (writer thread).
    private var nextRecovery = Date.distantPast
    private let counters = Mutex(StoreStatistics())

    public var statistics: StoreStatistics { counters.withLock { $0 } }

    public var location: String { options.path }

    /// Opens (creating if needed) the database at `options.path`: directory `0700`, files `0600`,
    /// WAL mode, migrations applied in order.
    public init(options: StoreOptions) throws {
        self.options = options
        let directory = (options.path as NSString).deletingLastPathComponent
        try Self.prepareDirectory(directory)
        var configuration = GRDB.Configuration()
        configuration.label = "aifs.store"
        let synchronous = options.durability == .power ? "FULL" : "NORMAL"
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            // Commits never run a checkpoint (its fsync would stall the write path); the
            // checkpointer thread does it on a connection of its own (see Checkpointer).
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 0")
        }
        configuration.busyMode = .timeout(10)
        self.configuration = configuration
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        lockFD = try Self.lockExclusively(options.path + ".lock")
        let pool: DatabasePool
        do {
            pool = try DatabasePool(path: options.path, configuration: configuration)
            try StoreSchema.migrator.migrate(pool)
        } catch {
            throw StoreError("cannot open the store at \(options.path): \(error)")
        }
        current = Mutex(pool)
        for suffix in ["", "-wal", "-shm"] { chmod(options.path + suffix, 0o600) }
        files = StoreFiles(path: options.path)
        checkpointer = Checkpointer(path: options.path)
        retention = RetentionRunner(policy: options.retention)
    }

    /// One daemon per store: an exclusive `flock` on `PATH.lock`, held while the store is open.
    static func lockExclusively(_ path: String, attempts: Int = 50) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        // A daemon that was just unmounted may still be writing its last batch: wait up to 5 s.
        for _ in 0..<attempts {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return fd }
            usleep(100_000)
        }
        Glibc.close(fd)
        throw StoreError("the store \(path.dropLast(5)) is in use by another aifs daemon")
    }

    /// Creates the directory `0700` if missing; tightens an existing one that we own to `0700`.
    static func prepareDirectory(_ directory: String) throws {
        var st = stat()
        if stat(directory, &st) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError("cannot create the store directory \(directory): \(error.localizedDescription)")
            }
        } else if st.st_uid == getuid(), st.st_mode & 0o077 != 0 {
            chmod(directory, 0o700)
        }
    }

    // MARK: Writing

    public func record(_ events: [StoreEvent]) {
        guard !events.isEmpty else { return }
        startWriter()
        pending.append(events, done: nil)
    }

    public func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void) {
        startWriter()
        if !pending.append(events, done: done) { DispatchQueue.global().async { done(.EIO) } }
    }

    private func startWriter() {
        let first = started.withLock { started -> Bool in
            defer { started = true }
            return !started
        }
        guard first else { return }
        let thread = Thread { [self] in writerLoop() }
        thread.name = "aifs.store.writer"
        thread.start()
    }

    private func writerLoop() {
        // Wakes at least once a second, so that deleted files are noticed (and written again)
        // even while nothing is written.
        while let batch = pending.takeAll(waitingAtMost: 1) {
            if let refusal = filesInPlace() {
                if !batch.isEmpty { fail(batch, refusal) }
                continue
            }
            if !batch.isEmpty { write(batch) }
            if retention.isDue() { prune() }
        }
        writerDone.signal()
    }

    /// Answers every group of a batch that cannot be written with `errno`.
    private func fail(_ batch: EventQueue.Batch, _ errno: Errno) {
        counters.withLock { c in
            c.groups += batch.groups.count
            c.failedGroups += batch.groups.count
        }
        for group in batch.groups { group.done?(errno) }
    }

    /// Applies a batch in one transaction, each group in its own savepoint: a group that fails
    /// (it should not) is rolled back and only its own acknowledgement fails.
    private func write(_ batch: EventQueue.Batch) {
        var failed = Set<Int>()
        var failure: Errno?
        do {
            try pool.writeWithoutTransaction { db in
                try db.inTransaction {
                    var writer = BatchWriter(db: db, memoryIDs: retention.memoryIDs)
                    for (index, group) in batch.groups.enumerated() {
                        do {
                            if batch.groups.count == 1 {
                                try writer.apply(group.events)  // its own transaction is its savepoint
                            } else {
                                try db.inSavepoint {
                                    try writer.apply(group.events)
                                    return .commit
                                }
                            }
                        } catch where batch.groups.count > 1 {
                            failed.insert(index)
                            logger.error("store: a group of \(group.events.count) events failed and was rolled back",
                                         metadata: ["error": "\(error)"])
                        }
                    }
                    try writer.finish()
                    retention.memoryIDs = writer.memoryIDs
                    retention.inserted += writer.memoriesInserted
                    return .commit
                }
            }
        } catch {
            logger.error("store write failed; \(batch.groups.count) groups lost", metadata: ["error": "\(error)"])
            failure = Self.failure(for: error)
        }
        counters.withLock { c in
            c.groups += batch.groups.count
            c.transactions += 1
            c.failedGroups += failure == nil ? failed.count : batch.groups.count
        }
        for (index, group) in batch.groups.enumerated() {
            group.done?(failure ?? (failed.contains(index) ? .EIO : nil))
        }
    }

    /// `ENOSPC` when the disk (or the database's size limit) is full, so that `close()` says so;
    /// `EIO` for anything else.
    static func failure(for error: any Error) -> Errno {
        if let error = error as? DatabaseError, error.resultCode == .SQLITE_FULL { return .ENOSPC }
        return .EIO
    }

    /// Deletes memories past the retention policy, a bounded chunk per transaction.
    private func prune() {
        do {
            try retention.prune(pool)
        } catch {
            logger.error("memory retention failed", metadata: ["error": "\(error)"])
        }
    }

    public func close() {
        let wasStarted = started.withLock { started -> Bool in
            defer { started = true }
            return started
        }
        pending.close()
        if wasStarted { writerDone.wait() }
        checkpointer.stop()
        try? pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        try? pool.close()
        // Only now, with the open files' -wal and -shm gone with their last connection, may the
        // pools of deleted files close: their last connection deletes those names too.
        for old in retired { try? old.close() }
        retired = []
        Glibc.close(lockFD)
    }

    // MARK: Loading

    public func load() throws -> StoreContents {
        do {
            let contents = try pool.write { db in try StoreLoader(db: db).load() }
            let lastMemory = try pool.read { db in try Int64.fetchOne(db, sql: "SELECT max(id) FROM memories") } ?? 0
            let count = try pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM memories") } ?? 0
            retention.memoryIDs = MemoryID(after: lastMemory)
            retention.rowCount = count
            return contents
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError("cannot read the store at \(options.path): \(error)")
        }
    }
}

/// A store that cannot be opened or read; the message says which path and why.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}

// MARK: Files deleted or replaced under the daemon

/// Noticing the store's files deleted or replaced under the daemon, and writing the open
/// database back to the path. Kept in this file because it works on the writer's private state.
extension SQLiteStore {
    /// Nil when the store's files are the ones it opened (or were just written again); else
    /// the errno to refuse writes with. Writer thread only.
    fileprivate func filesInPlace() -> Errno? {
        if replaced { return .EIO }
        switch files.check() {
        case nil:
            return nil
        case .replaced:
            replaced = true
            let saved = options.path + ".saved-" + WallClock.iso8601(WallClock.now())
            var note = "a copy of this daemon's database is at \(saved)"
            do {
                try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [saved]) }
                chmod(saved, 0o600)
            } catch {
                note = "no copy of this daemon's database could be saved (\(error))"
            }
            let message = "the store file \(options.path) was replaced by another file under the daemon; \(note); "
                + "every write is refused (EIO) until aifs is mounted again, which uses the new file"
            logger.error("\(message)")
            return .EIO
        case .deleted(let names):
            guard Date() >= nextRecovery else { return .EIO }
            do {
                try writeFilesAgain()
                let message = "store files deleted under the daemon (\(names.joined(separator: ", "))): "
                    + "the open database was written again to \(options.path); nothing was lost"
                logger.warning("\(message)")
                return nil
            } catch {
                nextRecovery = Date().addingTimeInterval(5)
                let message = "store files deleted under the daemon (\(names.joined(separator: ", "))) and they cannot "
                    + "be written again: \(error); writes are refused until they can (tried every 5 s)"
                logger.error("\(message)")
                return Self.failure(for: error)
            }
        }
    }

    /// Writes a complete copy of the open database back to the path and goes on with it.
    private func writeFilesAgain() throws {
        let path = options.path
        try Self.prepareDirectory((path as NSString).deletingLastPathComponent)
        let oldMask = umask(0o077)
        defer { umask(oldMask) }
        // The lock first: if another daemon holds the path's lock now, the path is its store.
        if StoreFiles.identity(path + ".lock") != files.known[".lock"] {
            let fd = try Self.lockExclusively(path + ".lock", attempts: 1)
            Glibc.close(lockFD)
            lockFD = fd
        }
        if files.databaseInPlace {
            files = StoreFiles(path: path)
            return
        }
        let copy = path + ".recovering"
        unlink(copy)
        do {
            try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        } catch {
            unlink(copy)
            throw error
        }
        // What is left of the old files at the path would be taken for the copy's log.
        unlink(path + "-wal")
        unlink(path + "-shm")
        guard rename(copy, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(copy)
            throw StoreError("cannot rename \(copy) to \(path): \(reason)")
        }
        let fresh = try DatabasePool(path: path, configuration: configuration)
        try StoreSchema.migrator.migrate(fresh)
        for suffix in ["", "-wal", "-shm"] { chmod(path + suffix, 0o600) }
        let old = current.withLock { pool -> DatabasePool in
            defer { pool = fresh }
            return pool
        }
        retired.append(old)
        let oldCheckpointer = checkpointer
        checkpointer = Checkpointer(path: path)
        oldCheckpointer.stop()
        files = StoreFiles(path: path)
    }
}
