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
/// This file holds opening and the writer thread; loading is in `SQLiteStore+Loading.swift`,
/// memory search in `SQLiteStore+Search.swift`, snapshots in `SQLiteStore+Snapshots.swift`, the recovery of
/// deleted files in `SQLiteStore+Recovery.swift` (the state it shares is internal for it), the
/// writer's inbox in `EventQueue.swift`, the file identities it checks in `StoreFiles.swift`, the
/// upkeep between batches and the answers to groups in `SQLiteStore+Upkeep.swift`, and what a
/// failed write keeps for later, with its back-off, in `WriteRetry.swift`.
///
/// **A failed write** (the disk full) answers every group somebody waits for with the errno
/// (`ENOSPC`: their `close()` fails) and keeps the groups nobody waits for (``KeptGroups``,
/// bounded), written in front of the next batch or after a ``Backoff``; the journal and the
/// memory index back off the same way.
public final class SQLiteStore: SocketStore, @unchecked Sendable {
    public let options: StoreOptions
    /// The open database; replaced (on the writer thread) when its files were deleted.
    let current: Mutex<DatabasePool>
    var pool: DatabasePool { current.withLock { $0 } }
    /// Pools of files that were deleted: kept open until ``close()``, because closing the last
    /// connection to the old files deletes the `-wal` and `-shm` *names*, which the new files use.
    var retired: [DatabasePool] = []
    let configuration: GRDB.Configuration
    var files: StoreFiles
    /// Whether ``files`` needs its complete check before a batch (writer thread).
    let directoryWatch: StoreDirectoryWatch
    private let pending = EventQueue()
    let searchQueue = DispatchQueue(label: "aifs.store.search", attributes: .concurrent)
    /// At most two memory searches run at once (SQLiteStore+Search.swift).
    let searchSlots = DispatchSemaphore(value: 2)
    let logger = Logger(label: "aifs.store")
    private let writerDone = DispatchSemaphore(value: 0)
    private let started = Mutex(false)
    let retention: RetentionRunner
    let indexer: MemoryIndexer
    let journal: Journal
    /// The writer's prepared statements on the current pool's writer connection (writer thread;
    /// finalized before that connection is retired or closed).
    var statements: WriterStatements?
    /// When the writer last wrote a batch (for the indexer's idle delay).
    private var lastWrite = Date.distantPast
    /// Writer thread only: what a failed batch left for later, and when to try the journal and
    /// the memory index again after they failed.
    var kept = KeptGroups()
    var journalRetry = Backoff(), indexRetry = Backoff()
    var lockFD: Int32
    var checkpointer: Checkpointer
    /// The path holds another database now: every write is refused until the next mount.
    var replaced = false
    /// A failed attempt to write the deleted files again is retried after this (writer thread).
    var nextRecovery = Date.distantPast
    let counters = Mutex(StoreStatistics())

    public var statistics: StoreStatistics { counters.withLock { $0 } }

    public var location: String { options.path }

    /// The database and its `-wal`, as they stand (one `stat` each).
    public var fileBytes: Int {
        [options.path, options.path + "-wal"].reduce(0) { total, path in
            var info = stat()
            return stat(path, &info) == 0 ? total + Int(info.st_size) : total
        }
    }

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
            // Each time the log starts over after a complete checkpoint, its file is cut back
            // to this size: it never stays large after a burst (issue 23: 74 MB beside 3 MB).
            try db.execute(sql: "PRAGMA journal_size_limit = \(Checkpointer.walSizeLimit)")
        }
        configuration.busyMode = .timeout(10)
        self.configuration = configuration
        // Files 0600 by chmod once open (the directory is 0700 meanwhile), not by umask: the
        // umask is the whole process's, and this open may wait up to 5 s for the lock.
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
        directoryWatch = StoreDirectoryWatch(directory: directory.isEmpty ? "." : directory)
        checkpointer = Checkpointer(path: options.path)
        retention = RetentionRunner(policy: options.retention)
        indexer = MemoryIndexer(delay: options.memoryIndexDelay)
        journal = Journal(delay: options.journalDelay)
    }

    // MARK: Writing

    public func record(_ events: [StoreEvent]) {
        guard !events.isEmpty else { return }
        startWriter()
        if pending.append(events, done: nil) { counters.withLock { $0.backlog += 1 } }
    }

    public func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void) {
        record(events, indexingMemories: false, done: done)
    }

    /// Records `events`; with `indexingMemories`, every committed memory is indexed for search
    /// before `done` is called.
    func record(_ events: [StoreEvent], indexingMemories: Bool, done: @escaping @Sendable (Errno?) -> Void) {
        startWriter()
        if pending.append(events, done: done, indexesMemories: indexingMemories) {
            counters.withLock { $0.backlog += 1 }
        } else {
            DispatchQueue.global().async { done(.EIO) }
        }
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
        while var batch = pending.takeAll(waitingAtMost: nextWake()) {
            if let refusal = filesInPlace() {
                if !batch.isEmpty { fail(batch, refusal) }
                // The file was replaced: nothing can be written until a remount.
                if !kept.isEmpty { dropKept("the store's file was replaced (\(refusal))") }
                continue
            }
            // Kept groups are older than the batch: they go first, with anything new, or alone
            // when their back-off allows.
            if !kept.isEmpty, !batch.isEmpty || kept.backoff.isDue() { batch.groups = kept.takeAll() + batch.groups }
            if !batch.isEmpty {
                write(batch)
                lastWrite = Date()
                if let statements, statements.isLong { pool.writeWithoutTransaction { _ in statements.checkpointIfLong() } }
            }
            let idle = Date().timeIntervalSince(lastWrite)
            if journalRetry.isDue(), journal.isFull || (journal.isBehind && idle >= journal.delay) { applyJournalWhenDue() }
            if indexRetry.isDue(), indexer.isFull || (indexer.isBehind && idle >= indexer.delay) { indexMemories() }
            if retention.isDue() { prune() }
        }
        if !kept.isEmpty, filesInPlace() == nil {  // closing: one last try
            var last = EventQueue.Batch()
            last.groups = kept.takeAll()
            write(last)
        }
        if !kept.isEmpty { dropKept("the daemon is stopping") }
        writerDone.signal()
    }

    /// Seconds until the writer has work of its own: kept groups, the journal or the index, each
    /// when its back-off allows; at most 1 (the check of the files).
    private func nextWake() -> Double {
        var wake = 1.0
        if !kept.isEmpty { wake = min(wake, max(0.001, kept.backoff.remaining())) }
        if journal.isBehind { wake = min(wake, max(journal.delay, journalRetry.remaining())) }
        if indexer.isBehind { wake = min(wake, max(indexer.delay, indexRetry.remaining())) }
        return wake
    }

    /// Applies a batch in one transaction. Should a group fail (it should not), the batch is
    /// applied again with each group in its own savepoint, so that only the failed group is
    /// rolled back and only its acknowledgement fails. Batches that take or restore a snapshot
    /// (which report to their ticket as they go) use savepoints from the start.
    private func write(_ batch: EventQueue.Batch) {
        var failed = Set<Int>()
        var failure: Errno?, cause: (any Error)?
        let writeStarted = DaemonCounters.monotonicSeconds()
        do {
            if batch.groups.count == 1 || batch.reportsAsItGoes {
                try commit(batch, isolatingGroups: batch.groups.count > 1, failed: &failed)
            } else {
                do {
                    try commit(batch, isolatingGroups: false, failed: &failed)
                } catch where !Self.isResource(error) {
                    // A full disk fails every group alike: no point trying them one by one.
                    try commit(batch, isolatingGroups: true, failed: &failed)
                }
            }
        } catch {
            failure = Self.failure(for: error)
            cause = error
        }
        var refused = failed.count, keeping = 0, dropped = 0
        if let failure, let cause {
            // Who waits hears the errno; what nobody waits for is kept and written later when
            // the cause can pass (a full disk, an I/O error), else it is lost.
            let unanswered = batch.groups.filter { $0.done == nil }
            refused = batch.groups.count - unanswered.count
            if Self.isResource(cause) {
                keeping = unanswered.count
                dropped = kept.keep(unanswered)
                kept.backoff.failed()
            }
            let later = Self.isResource(cause) ? "\(kept.count) groups nobody waits for kept to write later"
                : "\(unanswered.count) groups nobody waits for lost"
            let over = dropped > 0 ? "; the \(dropped) oldest kept groups dropped (over \(KeptGroups.limit) groups or \(KeptGroups.byteLimit >> 20) MiB)" : ""
            logger.error("store write failed (\(failure)): \(refused) waiting writes refused; \(later)\(over)",
                         metadata: ["error": "\(cause)"])
            if !Self.isResource(cause) { refused = batch.groups.count }  // the lost ones count as failed too
        } else {
            kept.backoff.succeeded()
        }
        let seconds = DaemonCounters.monotonicSeconds() - writeStarted
        counters.withLock { c in
            c.commitSeconds.observe(seconds)
            c.groups += batch.groups.count - keeping + dropped
            c.transactions += 1
            c.failedGroups += refused + dropped
            c.backlog -= batch.groups.count - keeping + dropped
        }
        answer(batch) { index in failure ?? (failed.contains(index) ? .EIO : nil) }
    }

    /// The batch's transaction. A batch of ops only is one journal row; any other batch first
    /// applies the journal (order is kept), then its groups (in savepoints if `isolatingGroups`),
    /// then catches up the memory index if a group asks for it.
    private func commit(_ batch: EventQueue.Batch, isolatingGroups: Bool, failed: inout Set<Int>) throws {
        if !isolatingGroups, let ops = batch.journalOps(now: WallClock.now()) {
            try pool.writeWithoutTransaction { db in
                let raw = writerStatements(db)
                try raw.transaction { try journal.append(ops, raw) }
            }
            journal.appended()
            return
        }
        var step: MemoryIndexer.Step?
        var memories = 0, applied = 0
        try pool.writeWithoutTransaction { db in
            let raw = writerStatements(db)
            try raw.transaction {
                memories = try writing(db, raw) { writer in
                    applied = try applyJournal(db, raw, &writer, isolated: isolatingGroups)
                    for (index, group) in batch.groups.enumerated() {
                        guard isolatingGroups else {
                            try writer.apply(group.events)
                            continue
                        }
                        do {
                            try db.inSavepoint {
                                try writer.apply(group.events)
                                try writer.flushOps()
                                return .commit
                            }
                        } catch {
                            if Self.isResource(error) { throw error }  // the whole batch fails, and is kept
                            failed.insert(index)
                            logger.error("store: a group of \(group.events.count) events failed and was rolled back",
                                         metadata: ["error": "\(error)"])
                        }
                    }
                }
                if batch.groups.contains(where: \.indexesMemories) { step = try indexer.index(db, limit: nil) }
            }
        }
        committed(journalRows: applied, memories: memories, indexed: step)
    }

    /// The journal applied through `writer` first, so that order is kept; when `isolated` (a
    /// batch being retried), in a savepoint, and a journal that cannot be applied is kept for
    /// later rather than failing the batch's own groups. Returns the rows applied.
    private func applyJournal(_ db: Database, _ raw: WriterStatements, _ writer: inout BatchWriter,
                              isolated: Bool) throws -> Int {
        guard isolated else { return try journal.apply(db, &writer) }
        var applied = 0
        do {
            try db.inSavepoint {
                applied = try journal.apply(db, &writer)
                try writer.flushOps()
                return .commit
            }
            return applied
        } catch {
            writer = BatchWriter(db: db, raw: raw, memoryIDs: retention.memoryIDs)
            logger.error("store: the journal could not be applied; it is kept for later", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Runs `body` with a fresh ``BatchWriter`` and finishes it, inside the caller's
    /// transaction; returns the memories it inserted. The memory ids it used stay used.
    func writing(_ db: Database, _ raw: WriterStatements, _ body: (inout BatchWriter) throws -> Void) throws -> Int {
        var writer = BatchWriter(db: db, raw: raw, memoryIDs: retention.memoryIDs)
        try body(&writer)
        try writer.finish()
        retention.memoryIDs = writer.memoryIDs
        return writer.memoriesInserted
    }

    /// After a commit: the journal rows it applied, the memories it inserted, the index step it took.
    func committed(journalRows: Int, memories: Int, indexed step: MemoryIndexer.Step?) {
        journal.applied(journalRows)
        retention.inserted += memories
        indexer.committed(memories)
        if let step { indexer.advanced(step) }
    }

    /// The writer connection's statements, prepared on first use.
    func writerStatements(_ db: Database) -> WriterStatements {
        if let statements { return statements }
        let fresh = WriterStatements(db)
        statements = fresh
        return fresh
    }

    public func close() {
        let wasStarted = started.withLock { started -> Bool in
            defer { started = true }
            return started
        }
        pending.close()
        if wasStarted { writerDone.wait() }
        checkpointer.stop()
        try? pool.writeWithoutTransaction { db in
            statements?.finalize()
            statements = nil
            try db.checkpoint(.truncate)
        }
        // Readers first: GRDB closes the writer before the readers, and a read-only last
        // connection can neither checkpoint nor delete the -wal and -shm (GRDB issue 739).
        pool.releaseMemory()
        do { try pool.close() } catch { logger.error("store: the database did not close cleanly; its -wal stays until the next open", metadata: ["error": "\(error)"]) }
        // Only now, with the open files' -wal and -shm gone with their last connection, may the
        // pools of deleted files close: their last connection deletes those names too.
        for old in retired { try? old.close() }
        retired = []
        Glibc.close(lockFD)
    }
}

/// A store that cannot be opened or read; the message says which path and why.
public struct StoreError: Error, CustomStringConvertible {
    public var description: String
    init(_ description: String) { self.description = description }
}
