@testable import AIFSCore
import Foundation
import FuseKit
import Testing

/// The event ring behind `/ai/events` in-process: the JSON of a line, ids, retention with
/// stable offsets, and who sees what (docs/file-protocol.md, "`/ai/events`").
@Suite("events: the ring", .timeLimit(.minutes(1)))
struct EventLogTests {
    static let owner = EventAudience(uid: 1000, gid: 1000, mode: 0o700)
    static let open = EventAudience(uid: 1000, gid: 1000, mode: 0o755)

    static func object(_ line: some Sequence<UInt8>) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
    }

    static func lines(_ bytes: [UInt8]) throws -> [[String: Any]] {
        try bytes.split(separator: 0x0A).map { try object($0) }
    }

    /// Every byte of `reader`'s stream from `offset`, read `chunk` bytes at a time like a file.
    static func readAll(_ log: EventLog, _ reader: inout EventReader, from offset: Int = 0, chunk: Int = 4096) -> [UInt8] {
        var out: [UInt8] = []
        while true {
            let bytes = log.read(&reader, offset: offset + out.count, size: chunk)
            if bytes.isEmpty { return out }
            out += bytes
        }
    }

    @Test("a line: one JSON object with the common fields first, text escaped, numbers plain")
    func format() throws {
        let event = AIEvent("error", socket: "a\"b", uid: 7, audience: Self.open, time: 1_700_000_000.25,
                            [("message", .string("two\nlines\t\u{1}\\")), ("n", .int(-3)), ("d", .double(0.000125)),
                             ("f", .bool(false)), ("z", .null)])
        let line = EventJSON.line(event, id: 42, daemon: "local", fromLog: true)
        #expect(line.last == 0x0A && line.dropLast().allSatisfy { $0 != 0x0A }, "one line")
        let text = String(decoding: line, as: UTF8.self)
        #expect(text.hasPrefix("{\"id\":42,\"time\":\"2023-11-14T22:13:20.250Z\",\"type\":\"error\",\"socket\":\"a\\\"b\",\"uid\":7,"))
        let o = try Self.object(line.dropLast())
        #expect(o["socket"] as? String == "a\"b" && o["uid"] as? Int == 7 && o["daemon"] as? String == "local")
        #expect(o["from_log"] as? Bool == true && o["owner"] as? Int == 1000 && o["group"] as? Int == 1000 && o["mode"] as? String == "755")
        #expect(o["message"] as? String == "two\nlines\t\u{1}\\")
        #expect(o["n"] as? Int == -3 && o["d"] as? Double == 0.000125 && o["f"] as? Bool == false && o["z"] is NSNull)
        let daemonEvent = EventJSON.line(AIEvent("reload", uid: 0, time: 1), id: 1, daemon: "d", fromLog: false)
        let d = try Self.object(daemonEvent)
        #expect(d["socket"] is NSNull && d["owner"] == nil && d["from_log"] as? Bool == false)
        #expect(EventJSON.format(2) == "2" && EventJSON.format(1.5) == "1.5" && EventJSON.format(0.0000004) == "0")
    }

    @Test("ids: microseconds of the event's time, strictly increasing in the order recorded")
    func ids() throws {
        let log = EventLog()
        for _ in 0..<5 { log.record(AIEvent("reload", uid: 0, time: 1_000), fromLog: false, publish: false) }
        log.record(AIEvent("reload", uid: 0, time: 2_000), fromLog: false, publish: false)
        log.record(AIEvent("reload", uid: 0, time: 1_500), fromLog: false, publish: false)  // a clock that went back
        var reader = EventReader(caller: Caller(uid: 0, gid: 0))
        let ids = try Self.lines(Self.readAll(log, &reader)).map { try #require($0["id"] as? Int) }
        #expect(ids == [1_000_000_000, 1_000_000_001, 1_000_000_002, 1_000_000_003, 1_000_000_004, 2_000_000_000, 2_000_000_001])
    }

    @Test("visibility: a 0700 socket's events reach its owner and root only; 0755 and daemon events everyone")
    func visibility() throws {
        let log = EventLog()
        let now = WallClock.now()
        log.record(AIEvent("socket_created", socket: "private", uid: 1000, audience: Self.owner, time: now), fromLog: true, publish: false)
        log.record(AIEvent("socket_created", socket: "public", uid: 1000, audience: Self.open, time: now), fromLog: true, publish: false)
        log.record(AIEvent("reload", uid: 0, time: now), fromLog: false, publish: false)
        log.record(AIEvent("error", socket: "private", uid: 1000, audience: Self.owner, time: now), fromLog: true, publish: false)
        func seen(_ uid: UInt32, _ gid: UInt32) throws -> (names: [String], size: Int) {
            var reader = EventReader(caller: Caller(uid: uid, gid: gid))
            let bytes = Self.readAll(log, &reader, chunk: 7)
            #expect(log.size(for: Caller(uid: uid, gid: gid)).size == bytes.count, "stat's size is the reader's stream")
            return (try Self.lines(bytes).map { "\($0["type"]!):\($0["socket"] as? String ?? "-")" }, bytes.count)
        }
        let everything = ["socket_created:private", "socket_created:public", "reload:-", "error:private"]
        #expect(try seen(1000, 1000).names == everything)
        #expect(try seen(0, 0).names == everything)
        #expect(try seen(2000, 2000).names == ["socket_created:public", "reload:-"])
        #expect(try seen(2000, 1000).names == ["socket_created:public", "reload:-"], "0700 gives the group nothing")
        let group = EventAudience(uid: 1000, gid: 1000, mode: 0o750)
        log.record(AIEvent("reset", socket: "team", uid: 1000, audience: group, time: now), fromLog: true, publish: false)
        #expect(try seen(2000, 1000).names.last == "reset:team")
        #expect(try seen(2000, 2000).names.last == "reload:-")
    }

    @Test("max_rows: the oldest go; offsets never move; a reader behind the trim skips forward")
    func maxRows() throws {
        let log = EventLog(retention: EventRetention(maxRows: 3))
        var follower = EventReader(caller: Caller(uid: 0, gid: 0))
        func add(_ n: Int) {
            log.record(AIEvent("error", socket: "s", uid: 0, audience: Self.open, [("n", .int(n))]), fromLog: true, publish: false)
        }
        add(1); add(2)
        let first = Self.readAll(log, &follower)
        #expect(try Self.lines(first).map { $0["n"] as? Int } == [1, 2])
        for n in 3...6 { add(n) }
        #expect(log.count == 3)
        let caller = Caller(uid: 0, gid: 0)
        let total = log.size(for: caller).size
        // The follower goes on at its offset: 3 was trimmed under it, so it skips to 4.
        let next = Self.readAll(log, &follower, from: first.count)
        #expect(try Self.lines(next).map { $0["n"] as? Int } == [4, 5, 6])
        #expect(first.count + next.count < total, "the size counts the trimmed event too")
        // A new reader from 0 gets what is kept; its offsets continue past the gap.
        var fresh = EventReader(caller: caller)
        let kept = Self.readAll(log, &fresh)
        #expect(kept == next)
        #expect(fresh.shift == total - kept.count)
        // The same bytes at their own offset for anyone reading there (tail's backward reads).
        var seeker = EventReader(caller: caller)
        let tail = log.read(&seeker, offset: total - 10, size: 100)
        #expect(tail == Array(kept.suffix(10)) && seeker.shift == 0)
        // Nothing more: end of file, also for a reader at the end.
        #expect(log.read(&follower, offset: first.count + next.count, size: 100).isEmpty)
    }

    @Test("max_age: events older than it go at the next read")
    func maxAge() throws {
        let log = EventLog(retention: EventRetention(maxAge: 60))
        let now = WallClock.now()
        log.record(AIEvent("reload", uid: 0, time: now - 120), fromLog: false, publish: false)
        log.record(AIEvent("reload", uid: 0, time: now - 30), fromLog: false, publish: false)
        var reader = EventReader(caller: Caller(uid: 0, gid: 0))
        #expect(try Self.lines(Self.readAll(log, &reader)).count == 1)
        log.retention = EventRetention(maxAge: 10)
        #expect(log.count == 0)
    }

    @Test("publishing: what this daemon observed or posted, never a change another daemon posted")
    func publishing() {
        let log = EventLog()
        let published = Mutex<[String]>([])
        log.setPublisher { line in published.withLock { $0.append(String(decoding: line, as: UTF8.self)) } }
        log.record(AIEvent("reload", uid: 0))
        let remote = LoggedChange(origin: "other", time: 0, change: .remove(name: "x"), uid: 5)
        ChangeContext.applying(remote, remote: true) {
            #expect(log.causeUID == 5)
            log.record(AIEvent("error", uid: log.causeUID))
        }
        let local = LoggedChange(origin: "local", time: 0, change: .remove(name: "x"))
        ChangeContext.applying(local, remote: false) { log.record(AIEvent("reset", uid: log.causeUID)) }
        let lines = published.withLock { $0 }
        #expect(lines.count == 2 && lines[0].contains("\"reload\"") && lines[0].contains("\"from_log\":false"))
        #expect(lines[1].contains("\"reset\"") && lines[1].contains("\"from_log\":true"))
        #expect(log.count == 3, "every one is in the file")
    }
}

import Synchronization

/// `[events]` in the configuration.
@Suite("events: configuration")
struct EventConfigTests: ConfigParsing {
    @Test("[events] max_age and max_rows: a duration and a count, 10,000 rows and no age limit by default")
    func retention() throws {
        #expect(try parse("").events == EventRetention(maxAge: nil, maxRows: 10_000))
        #expect(try parse("[events]\nmax_age = \"2h\"\nmax_rows = 50\n").events == EventRetention(maxAge: 7200, maxRows: 50))
        #expect(throws: ConfigError.self) { try parse("[events]\nmax_rows = 0\n") }
        #expect(throws: ConfigError.self) { try parse("[events]\nmax_age = \"soon\"\n") }
        do {
            _ = try parse("[events]\nkeep = 1\n")
            Issue.record("an unknown key was accepted")
        } catch {
            #expect("\(error)".contains("events.keep: unknown key (known: max_age, max_rows)"))
        }
    }
}
