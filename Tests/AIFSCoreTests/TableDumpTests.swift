import Foundation
import GRDB
import Testing
@testable import AIFSCore

/// ``TableDump``, the form of a Redis checkpoint: a database written and read back is the same
/// database — every row (rowids, NULLs, signed numbers, reals to the bit, text, blobs), the
/// schema, `sqlite_sequence`, working indexes and triggers, a virtual table rebuilt empty — and
/// a damaged stream is refused, never half loaded.
@Suite("Table dump (checkpoint form)")
struct TableDumpTests {
    static let schema = """
        CREATE TABLE plain (a TEXT, b INTEGER, c REAL, d BLOB);
        CREATE TABLE keyed (seq INTEGER PRIMARY KEY, socket INTEGER NOT NULL, time REAL NOT NULL, bytes BLOB NOT NULL);
        CREATE INDEX keyed_socket ON keyed(socket, seq);
        CREATE TABLE counted (id INTEGER PRIMARY KEY AUTOINCREMENT, note TEXT);
        CREATE TABLE pairs (k TEXT NOT NULL, v INTEGER NOT NULL, PRIMARY KEY (k, v)) WITHOUT ROWID;
        CREATE TABLE texts (id INTEGER PRIMARY KEY, content TEXT NOT NULL);
        CREATE VIRTUAL TABLE texts_fts USING fts5(content, content='texts', content_rowid='id');
        CREATE TRIGGER texts_after_insert AFTER INSERT ON texts BEGIN
            INSERT INTO texts_fts(rowid, content) VALUES (new.id, new.content);
        END;
        CREATE VIEW recent AS SELECT seq, socket FROM keyed WHERE seq > 75;
        """

    static func temp(_ name: String) -> String {
        NSTemporaryDirectory() + "aifs-dump-\(UUID().uuidString.prefix(8))-\(name).db"
    }

    /// A database with every kind of value; rows deleted from `plain` leave rowid gaps.
    static func sample(at path: String) throws {
        let queue = try DatabaseQueue(path: path)
        try queue.write { db in
            try db.execute(sql: schema)
            let reals: [Double?] = [0, -0.0, 1.5, -2.25e300, .infinity, -.infinity, 1_796_346_888.16628, nil, .leastNonzeroMagnitude]
            for (i, real) in reals.enumerated() {
                let text: String? = i % 3 == 0 ? nil : (i == 1 ? "" : "naïve ✓ \(i)\n\"quoted\"")
                let blob: Data? = i % 2 == 0 ? Data([0, 255, 0, UInt8(i)]) : nil
                try db.execute(sql: "INSERT INTO plain VALUES (?, ?, ?, ?)",
                               arguments: [text, i == 4 ? Int64.min : (i == 5 ? Int64.max : Int64(i * -1000)), real, blob])
            }
            try db.execute(sql: "DELETE FROM plain WHERE rowid IN (2, 5)")
            // Text holding NUL bytes (the store keeps them; GRDB's String stops at the first).
            try db.execute(sql: "INSERT INTO plain (a, b) VALUES (CAST(x'610062000063' AS TEXT), 7)")
            for seq in 1...50 {
                try db.execute(sql: "INSERT INTO keyed VALUES (?, ?, ?, ?)",
                               arguments: [seq * 3, seq % 4, 1_796_346_888.0 + Double(seq) * 0.0026, Data("reply \(seq)".utf8)])
            }
            for n in 1...5 { try db.execute(sql: "INSERT INTO counted (note) VALUES (?)", arguments: ["n\(n)"]) }
            try db.execute(sql: "DELETE FROM counted WHERE id > 3")
            try db.execute(sql: "INSERT INTO pairs VALUES ('b', 2), ('a', 1), ('a', -7)")
            try db.execute(sql: "INSERT INTO texts VALUES (10, 'the first message'), (20, 'another one')")
        }
        try queue.close()
    }

    /// Every table's rows (rowid first where there is one) and the schema, as text to compare.
    static func contents(of path: String) throws -> [String] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in
            var lines = try String.fetchAll(db, sql: "SELECT type || ' ' || name || ': ' || sql FROM sqlite_schema WHERE name NOT LIKE 'texts_fts_%' ORDER BY name")
            for table in ["plain", "keyed", "counted", "texts", "sqlite_sequence"] {
                let rowid = ["plain"].contains(table) ? "rowid, " : ""
                for row in try Row.fetchAll(db, sql: "SELECT \(rowid)* FROM \(table)") {
                    lines.append("\(table) " + row.databaseValues.map { value in
                        if case .double(let d) = value.storage { return "real:\(d.bitPattern)" }
                        return "\(value.storage)"
                    }.joined(separator: "|"))
                }
            }
            lines += try String.fetchAll(db, sql: "SELECT k || '=' || v FROM pairs").map { "pairs \($0)" }
            // Every text and blob byte for byte, NULs included, with its type.
            lines += try String.fetchAll(db, sql: "SELECT rowid || ' ' || typeof(a) || ' ' || hex(a) || ' ' || typeof(d) || ' ' || hex(d) FROM plain")
                .map { "plain bytes \($0)" }
            return lines
        }
    }

    @Test("a database dumped and loaded is the same: rows and rowids, NULLs, extreme numbers, reals to the bit, text, blobs, schema, sqlite_sequence")
    func roundTrip() throws {
        let source = Self.temp("source"), loaded = Self.temp("loaded")
        defer { for path in [source, loaded] { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } } }
        try Self.sample(at: source)
        let dump = try TableDump.encode(databaseAt: source)
        try TableDump.decode(dump, to: loaded)
        let before = try Self.contents(of: source), after = try Self.contents(of: loaded)
        #expect(before.count > 70)
        #expect(before.contains { $0.contains(" text 610062000063 ") }, "the NUL row is there to compare")
        #expect(after == before)
    }

    @Test("after loading: the index is used, the trigger fires, AUTOINCREMENT goes on past the deleted ids, the view answers, FTS is rebuilt empty and then indexes")
    func loadedDatabaseWorks() throws {
        let source = Self.temp("source"), loaded = Self.temp("loaded")
        defer { for path in [source, loaded] { for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) } } }
        try Self.sample(at: source)
        try TableDump.decode(try TableDump.encode(databaseAt: source), to: loaded)
        let queue = try DatabaseQueue(path: loaded)
        defer { try? queue.close() }
        try queue.write { db in
            let plan = try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN SELECT * FROM keyed WHERE socket = 1").map { $0["detail"] as String }.joined()
            #expect(plan.contains("keyed_socket"), "\(plan)")
            // The FTS index is not in the dump: empty until rebuilt, then it finds the old rows.
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM texts_fts WHERE texts_fts MATCH 'first'") == 0)
            try db.execute(sql: "INSERT INTO texts_fts(texts_fts) VALUES('rebuild')")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM texts_fts WHERE texts_fts MATCH 'first'") == 1)
            try db.execute(sql: "INSERT INTO texts VALUES (30, 'a new message')")
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM texts_fts WHERE texts_fts MATCH 'new'") == 1)
            try db.execute(sql: "INSERT INTO counted (note) VALUES ('next')")
            #expect(try Int.fetchOne(db, sql: "SELECT max(id) FROM counted") == 6)
            #expect(try Int.fetchOne(db, sql: "SELECT count(*) FROM recent") == 25)
        }
    }

    @Test("a damaged stream is refused with a reason: not a dump, cut short anywhere, a wrong count")
    func damaged() throws {
        let source = Self.temp("source")
        defer { for suffix in ["", "-wal", "-shm"] { unlink(source + suffix) } }
        try Self.sample(at: source)
        let dump = try TableDump.encode(databaseAt: source)
        var refused = 0
        var cuts = Array(stride(from: 0, to: dump.count - 1, by: max(1, dump.count / 40)))
        cuts.append(dump.count - 1)
        for cut in cuts {
            let target = Self.temp("cut")
            defer { for suffix in ["", "-wal", "-shm"] { unlink(target + suffix) } }
            do {
                try TableDump.decode(Array(dump[..<cut]), to: target)
            } catch {
                refused += 1
            }
        }
        #expect(refused == cuts.count)
        // A count far past what the stream holds is refused, not allocated.
        let huge = Self.temp("huge")
        defer { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(huge + suffix) } }
        #expect(throws: TableDump.Failure.self) { try TableDump.decode(TableDump.magic + [0xFF, 0xFF, 0xFF, 0xFF, 0x07], to: huge) }
        #expect(throws: TableDump.Failure.self) { try TableDump.decode(Array("SQLite format 3\0".utf8) + dump, to: Self.temp("bad")) }
    }

    @Test("the loader installs a table dump and, from an older daemon, a checkpoint that is the database file itself; a damaged one replaces nothing")
    func installBothForms() throws {
        // The replica in a directory of its own: install makes its directory 0700 (never /tmp).
        let directory = NSTemporaryDirectory() + "aifs-dump-install-\(UUID().uuidString.prefix(8))"
        let source = Self.temp("source"), replica = directory + "/replica.db"
        defer {
            for suffix in ["", "-wal", "-shm"] { unlink(source + suffix) }
            try? FileManager.default.removeItem(atPath: directory)
        }
        try Self.sample(at: source)
        let expected = try Self.contents(of: source)
        try CheckpointLoader.install(try TableDump.encode(databaseAt: source), at: replica)
        #expect(try Self.contents(of: replica) == expected)
        unlink(replica)
        let file = [UInt8](try Data(contentsOf: URL(fileURLWithPath: source)))
        #expect(file.starts(with: CheckpointLoader.sqliteHeader))
        try CheckpointLoader.install(file, at: replica)
        #expect(try Self.contents(of: replica) == expected)
        #expect(throws: StoreError.self) { try CheckpointLoader.install(Array("neither".utf8), at: replica) }
        #expect(try Self.contents(of: replica) == expected)
        #expect(!FileManager.default.fileExists(atPath: replica + ".loading"))
    }
}
