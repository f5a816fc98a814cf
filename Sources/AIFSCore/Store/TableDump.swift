import Foundation
import GRDB

/// A SQLite database as a compact byte stream and back: the form a Redis checkpoint takes
/// (docs/distributed.md, "Checkpoints and trimming"), so that what Redis keeps for the whole
/// history grows as slowly as the history's information does.
///
/// Why not the database file itself: its pages interleave every row's fields, and the same
/// text sits in several tables; xz of the file took about 67 bytes a message, of which numbers
/// that differ little from row to row (times, ids, offsets) were most. Here each table is
/// written column by column (all of a column's values together, which compress well), whole
/// numbers as the difference from the column's previous value, and real numbers (times) as the
/// difference of their bit patterns, so a time a few milliseconds after the last is two bytes.
/// The same checkpoint took about 30 bytes a message after xz.
///
/// What is written: the schema (every table, index, trigger and view, with its SQL) and every
/// row of every table, `rowid` included where the table has one that is not its primary key.
/// What is not: the shadow tables of virtual tables (an FTS index is rebuilt by its owner; the
/// checkpoint's is emptied before), and SQLite's own tables except `sqlite_sequence`'s rows.
/// Loading makes the tables, inserts the rows without foreign-key checks or triggers, then makes
/// the indexes and triggers.
enum TableDump {
    static let magic = Array("aifs-table-dump 1\n".utf8)

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    // MARK: - Writing

    /// The stream of the database at `path` (read-only; it must not change meanwhile).
    static func encode(databaseAt path: String) throws -> [UInt8] {
        var configuration = GRDB.Configuration()
        configuration.readonly = true
        configuration.label = "aifs.dump"
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        return try queue.read { db in
            var out = DumpWriter()
            out.bytes(magic)
            let schema = try SchemaObject.all(db)
            out.varint(UInt64(schema.count))
            for object in schema {
                out.string(object.type)
                out.string(object.name)
                out.string(object.sql)
            }
            var tables = schema.filter { $0.type == "table" && !$0.isVirtual }.map(\.name)
            if try db.tableExists("sqlite_sequence") { tables.append("sqlite_sequence") }
            out.varint(UInt64(tables.count))
            for table in tables { try writeTable(table, db, &out) }
            return out.buffer
        }
    }

    private static func writeTable(_ table: String, _ db: Database, _ out: inout DumpWriter) throws {
        let columns = try db.columns(in: table).map(\.name)
        let rowidColumn = try hasSeparateRowid(table, db) ? ["rowid"] : []
        let names = rowidColumn + columns
        var writers = Array(repeating: ColumnWriter(), count: names.count)
        var count = 0
        // Text is read as its bytes (with a flag that it is text): GRDB reads text up to its
        // first NUL, and the store keeps NULs a message may hold.
        let selected = names.map { name in
            "CASE typeof(\(quote(name))) WHEN 'text' THEN CAST(\(quote(name)) AS BLOB) ELSE \(quote(name)) END, typeof(\(quote(name))) = 'text'"
        }.joined(separator: ", ")
        let rows = try Row.fetchCursor(db, sql: "SELECT \(selected) FROM \(quote(table))")
        while let row = try rows.next() {
            for index in names.indices {
                writers[index].append(row[2 * index] as DatabaseValue, isText: row[2 * index + 1] as Bool)
            }
            count += 1
        }
        out.string(table)
        out.varint(UInt64(names.count))
        for name in names { out.string(name) }
        out.varint(UInt64(count))
        for writer in writers { writer.finish(into: &out) }
    }

    /// Whether the table has a rowid that no column holds (an `INTEGER PRIMARY KEY` is the rowid).
    private static func hasSeparateRowid(_ table: String, _ db: Database) throws -> Bool {
        if table == "sqlite_sequence" { return false }
        guard (try? db.makeStatement(sql: "SELECT rowid FROM \(quote(table)) LIMIT 0")) != nil else { return false }
        let primaryKey = try db.columns(in: table).filter { $0.primaryKeyIndex > 0 }
        return !(primaryKey.count == 1 && primaryKey[0].type.uppercased() == "INTEGER")
    }

    // MARK: - Reading

    /// Makes a new database at `path` (which must not exist) from a stream of ``encode(databaseAt:)``.
    static func decode(_ data: [UInt8], to path: String) throws {
        var input = DumpReader(data)
        guard try input.bytes(magic.count) == magic else { throw Failure(description: "not an aifs table dump") }
        var configuration = GRDB.Configuration()
        configuration.foreignKeysEnabled = false
        configuration.label = "aifs.load"
        let queue = try DatabaseQueue(path: path, configuration: configuration)
        defer { try? queue.close() }
        try queue.inTransaction { db in
            var schema: [SchemaObject] = []
            for _ in 0..<(try input.count()) {
                schema.append(SchemaObject(type: try input.string(), name: try input.string(), sql: try input.string()))
            }
            for object in schema where object.type == "table" { try db.execute(sql: object.sql) }
            for _ in 0..<(try input.count()) { try readTable(&input, db) }
            for object in schema where object.type != "table" { try db.execute(sql: object.sql) }
            return .commit
        }
    }

    private static func readTable(_ input: inout DumpReader, _ db: Database) throws {
        let table = try input.string()
        var names: [String] = []
        for _ in 0..<(try input.count()) { names.append(try input.string()) }
        let rowCount = try input.count()
        var columns: [[ColumnValue]] = []
        for _ in names { columns.append(try ColumnReader.read(&input, rows: rowCount)) }
        if table == "sqlite_sequence" { try db.execute(sql: "DELETE FROM sqlite_sequence") }
        // Text comes as its bytes with a flag (GRDB binds text up to its first NUL): the bytes
        // are bound as a blob and cast back to text.
        let placeholders = names.indices.map { "CASE ?\(2 * $0 + 1) WHEN 1 THEN CAST(?\(2 * $0 + 2) AS TEXT) ELSE ?\(2 * $0 + 2) END" }
            .joined(separator: ", ")
        let statement = try db.makeStatement(sql: "INSERT INTO \(quote(table)) (\(names.map(quote).joined(separator: ", "))) VALUES (\(placeholders))")
        var arguments: [DatabaseValue] = []
        for row in 0..<rowCount {
            arguments.removeAll(keepingCapacity: true)
            for column in columns {
                switch column[row] {
                case .text(let bytes): arguments += [1.databaseValue, Data(bytes).databaseValue]
                case .value(let value): arguments += [0.databaseValue, value]
                }
            }
            statement.setUncheckedArguments(StatementArguments(arguments))
            try statement.execute()
        }
    }

    static func quote(_ name: String) -> String { "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\"" }
}

/// One entry of `sqlite_schema` that a dump keeps.
private struct SchemaObject {
    let type: String
    let name: String
    let sql: String

    var isVirtual: Bool { sql.uppercased().hasPrefix("CREATE VIRTUAL TABLE") }

    /// Tables, indexes, triggers and views with SQL, in the order they were made, without
    /// SQLite's own and without the shadow tables of virtual tables.
    static func all(_ db: Database) throws -> [SchemaObject] {
        let rows = try Row.fetchAll(db, sql: "SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY rowid")
        let objects = rows.map { SchemaObject(type: $0["type"], name: $0["name"], sql: $0["sql"]) }
        let virtual = objects.filter(\.isVirtual).map(\.name)
        return objects.filter { object in
            !(object.type == "table" && !object.isVirtual && virtual.contains { object.name.hasPrefix($0 + "_") })
        }
    }
}
