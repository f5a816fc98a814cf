import GRDB
import GRDBSQLite

/// The writer's prepared statements, run on the raw SQLite API of GRDB's writer connection.
///
/// Every message commits a dozen small statements. Through GRDB's `cachedStatement` each one
/// cost about twice SQLite's own work (the statement looked up by its SQL text, arguments boxed
/// as `DatabaseValue`s, blobs copied into `Data`, the authorizer and observation checks), and
/// the store's CPU per round trip was 4–5× the memory store's. Here a statement is prepared once
/// per connection, found by the address of its `StaticString`, and values are bound straight
/// from Swift (a parameter pack: no array, no existential). Transactions, savepoints, snapshots,
/// loading and search stay on GRDB.
///
/// It also keeps the write-ahead log short (``checkpointIfLong()``).
///
/// Writer thread only, inside GRDB's `writeWithoutTransaction`. ``finalize()`` before the
/// connection closes.
final class WriterStatements {
    private let connection: OpaquePointer
    private var prepared: [UnsafeRawPointer: OpaquePointer] = [:]
    /// Frames in the write-ahead log after the last commit (SQLite's WAL hook).
    fileprivate var walFrames: Int32 = 0
    /// The log is checkpointed by the writer once it holds this many frames (SQLite's own
    /// automatic checkpoint size, 4 MiB of pages).
    static let longLog: Int32 = 1000
    /// The log holds enough frames for ``checkpointIfLong()`` to run (read outside GRDB's queue:
    /// the hook sets it on this thread, inside the commit).
    var isLong: Bool { walFrames >= checkpointAt }
    /// A checkpoint that readers kept from finishing is tried again 250 frames later.
    private var checkpointAt = WriterStatements.longLog

    init(_ db: Database) {
        connection = db.sqliteConnection!
        sqlite3_wal_hook(connection, { context, _, _, frames in
            Unmanaged<WriterStatements>.fromOpaque(context!).takeUnretainedValue().walFrames = frames
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Once the log holds ``longLog`` frames, copies it into the database (PASSIVE: readers
    /// are not waited for). The checkpointer thread alone could not keep up: while messages
    /// commit without a pause, a checkpoint from another connection never catches up with the
    /// last frame, so the log never starts over and grew by ~9 KiB a message (92 MiB after
    /// 10,000), each commit writing to new blocks. From the writer, between two commits, it
    /// catches up, and the next commit writes the log from its start again. Costs a few
    /// fsyncs every ~400 messages.
    func checkpointIfLong() {
        guard isLong else { return }
        var logged: Int32 = 0, copied: Int32 = 0
        let code = sqlite3_wal_checkpoint_v2(connection, nil, SQLITE_CHECKPOINT_PASSIVE, &logged, &copied)
        if code == SQLITE_OK, copied == logged {
            checkpointAt = Self.longLog
        } else {
            checkpointAt = walFrames + Self.longLog / 4
        }
    }

    /// Runs `body` in a transaction (prepared `BEGIN` and `COMMIT`: GRDB parsed both again for
    /// every commit); rolls back if it throws or the commit fails.
    func transaction(_ body: () throws -> Void) throws {
        try execute("BEGIN")
        do {
            try body()
            try execute("COMMIT")
        } catch {
            if sqlite3_get_autocommit(connection) == 0 { sqlite3_exec(connection, "ROLLBACK", nil, nil, nil) }
            throw error
        }
    }

    /// Runs a statement that returns no rows.
    func execute<each Value: WriterValue>(_ sql: StaticString, _ values: repeat each Value) throws {
        let statement = try bind(sql, repeat each values)
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE || code == SQLITE_ROW else { throw failure(code, sql) }
    }

    /// True if the query returns at least one row.
    func exists<each Value: WriterValue>(_ sql: StaticString, _ values: repeat each Value) throws -> Bool {
        let statement = try bind(sql, repeat each values)
        defer { sqlite3_reset(statement) }
        let code = sqlite3_step(statement)
        guard code == SQLITE_DONE || code == SQLITE_ROW else { throw failure(code, sql) }
        return code == SQLITE_ROW
    }

    /// Finalizes every statement (before the connection closes).
    func finalize() {
        sqlite3_wal_hook(connection, nil, nil)
        for statement in prepared.values { sqlite3_finalize(statement) }
        prepared = [:]
    }

    private func bind<each Value: WriterValue>(_ sql: StaticString, _ values: repeat each Value) throws -> OpaquePointer {
        let statement = try statement(sql)
        var index: Int32 = 1
        for value in repeat each values {
            let code = value.bind(to: statement, at: index)
            guard code == SQLITE_OK else { throw failure(code, sql) }
            index += 1
        }
        return statement
    }

    private func statement(_ sql: StaticString) throws -> OpaquePointer {
        let key = UnsafeRawPointer(sql.utf8Start)
        if let statement = prepared[key] { return statement }
        var statement: OpaquePointer?
        let code = sqlite3_prepare_v3(connection, UnsafeRawPointer(sql.utf8Start).assumingMemoryBound(to: CChar.self),
                                      Int32(sql.utf8CodeUnitCount), UInt32(SQLITE_PREPARE_PERSISTENT), &statement, nil)
        guard code == SQLITE_OK, let statement else { throw failure(code, sql) }
        prepared[key] = statement
        return statement
    }

    private func failure(_ code: Int32, _ sql: StaticString) -> DatabaseError {
        DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(connection)),
                      sql: sql.description)
    }
}

/// A value the writer binds to a statement parameter.
protocol WriterValue {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32
}

/// SQLite copies what it is given (`SQLITE_TRANSIENT`); the statement is reset after one step.
private let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

extension Int64: WriterValue {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self) }
}

extension Int: WriterValue {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, Int64(self)) }
}

extension Bool: WriterValue {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_int64(statement, index, self ? 1 : 0) }
}

extension Double: WriterValue {
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 { sqlite3_bind_double(statement, index, self) }
}

extension String: WriterValue {
    /// Bound with its UTF-8 length, so an empty string is `''` (never NULL) and a NUL inside is kept.
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        var text = self
        return text.withUTF8 { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else {
                return sqlite3_bind_text(statement, index, "", 0, transient)
            }
            return sqlite3_bind_text(statement, index, UnsafeRawPointer(base).assumingMemoryBound(to: CChar.self),
                                     Int32(bytes.count), transient)
        }
    }
}

extension Array: WriterValue where Element == UInt8 {
    /// A blob; an empty one is a zero-length blob (never NULL).
    func bind(to statement: OpaquePointer, at index: Int32) -> Int32 {
        withUnsafeBytes { bytes in
            guard let base = bytes.baseAddress, !bytes.isEmpty else { return sqlite3_bind_zeroblob(statement, index, 0) }
            return sqlite3_bind_blob(statement, index, base, Int32(bytes.count), transient)
        }
    }
}
