@testable import AIFSCore
import Foundation
import PropertyBased
import Testing

/// Snapshot names (`mkdir /ai/snapshots/NAME`, `restore NAME`) and the binary form a snapshot
/// keeps a socket's state in (`SnapshotCodec`), which must read back what it wrote and refuse
/// anything else by throwing, never by trapping.
@Suite("fuzz: snapshots")
struct SnapshotFuzzTests {
    // MARK: Names

    static func nameIsValid(_ name: String) -> Bool {
        let b = Array(name.utf8)
        return (1...64).contains(b.count) && b[0] != 0x2E && b.allSatisfy(HeaderFuzzTests.nameByte)
    }

    static let names = Generator<FuzzInput, ByteShrink>.bytes { r in
        switch r.int(below: 10) {
        case 0..<6:
            let alphabet = Array("abcXYZ019._-".utf8)
            var b = (0..<r.int(0...(r.chance(80) ? 20 : 70))).map { _ in r.pick(alphabet) }
            if r.chance(20) { b = (0..<r.int(62...66)).map { _ in r.pick(alphabet) } }
            return r.chance(30) ? Mutate.bytes(b, &r, times: 1) : b
        default:
            return Zoo.bytes(&r, count: r.length(max: 80), invalid: false)
        }
    }

    @Test("SnapshotName.problem, and the ctl commands that take a snapshot name")
    func snapshotNames() async {
        let tally = Tally("snapshot name")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.names) { input in
            await tally.input()
            let name = String(decoding: input.bytes, as: UTF8.self)
            let problem = SnapshotName.problem(with: name)
            let valid = Self.nameIsValid(name)
            tally.check((problem == nil) == valid, "\(name.debugDescription): problem \(problem ?? "none"), valid by the rules: \(valid)")
            tally.check(problem.map { !$0.isEmpty } ?? true, "an empty problem")
            if valid { tally.accepted += 1 } else { tally.refused += 1 }
            // A name that would split into words, or a comment, cannot be tried through ctl.
            guard !name.isEmpty, !name.contains(where: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }) else { return }
            tally.check(((try? DaemonCommand.parse("restore \(name)")) == .restore(name)) == valid, "/ai/ctl restore \(name.debugDescription)")
            tally.check(((try? DaemonCommand.parse("snapshot \(name)")) == .snapshot(name)) == valid, "/ai/ctl snapshot \(name.debugDescription)")
            tally.check(((try? ControlCommand.parse("restore \(name)")) == .restore(name)) == valid, "ctl restore \(name.debugDescription)")
        }
        tally.report(started: started)
    }

    // MARK: SnapshotCodec

    static func double(_ r: inout SplitMix) -> Double {
        switch r.int(below: 6) {
        case 0: return Double(bitPattern: r.next())  // NaNs and infinities too
        case 1: return r.pick([0, -0.0, .infinity, -.infinity, .nan, .leastNonzeroMagnitude, .greatestFiniteMagnitude])
        default: return 1_800_000_000 + Double(r.int(0...1_000_000)) / 1000
        }
    }

    static func text(_ r: inout SplitMix) -> String { r.chance(50) ? r.pick(["", "apollo", "echo/slow", "b"]) : JSON.text(&r) }
    static func blob(_ r: inout SplitMix) -> [UInt8] { r.bytes(r.length(max: 64)) }
    static func count(_ r: inout SplitMix) -> Int { r.chance(70) ? r.int(0...1000) : r.int(0...Int.max) }

    static func snapshot(_ r: inout SplitMix) -> SocketSnapshot {
        var settings: [Setting: String] = [:]
        for key in Setting.allCases where r.chance(30) { settings[key] = text(&r) }
        var s = SocketSnapshot(record: SocketRecord(
            id: r.chance(50) ? UInt64(r.int(1...1000)) : r.next(), name: text(&r), model: text(&r),
            life: r.pick(SocketState.allCases), headers: r.chance(50), settings: settings, prompt: blob(&r),
            created: double(&r), lastActivity: double(&r), uid: UInt32(truncatingIfNeeded: r.next()),
            gid: UInt32(truncatingIfNeeded: r.next()), mode: UInt32(r.int(0...0o7777)), messages: count(&r), tokensIn: count(&r),
            tokensOut: count(&r), nextMessageID: r.next(), wire: text(&r)))
        s.context = (0..<r.int(0...4)).map { _ in Turn(role: r.chance(50) ? .user : .assistant, content: blob(&r)) }
        s.queue = (0..<r.int(0...4)).map { _ in
            InputMessage(id: r.next(), content: blob(&r), headers: MessageHeaders(priorityHigh: r.chance(30)),
                         uid: UInt32(truncatingIfNeeded: r.next()), time: double(&r),
                         route: r.chance(60) ? .output : .team(TeamTicket(round: r.next(), synthesis: r.chance(50), team: nil)))
        }
        s.interrupted = r.chance(50) ? nil : max(1, r.next())
        s.output = RestoredStream(bytes: blob(&r), failureMarks: (0..<r.int(0...3)).map { _ in count(&r) })
        s.errors = RestoredStream(bytes: blob(&r), failureMarks: (0..<r.int(0...3)).map { _ in count(&r) })
        s.history = (0..<r.int(0...4)).map { _ in
            HistoryEntry(exchange: count(&r), role: r.chance(50) ? .user : .assistant, start: count(&r), length: count(&r))
        }
        return s
    }

    /// Two snapshots hold the same state (doubles compared bit for bit, strings scalar by scalar).
    static func same(_ a: SocketSnapshot, _ b: SocketSnapshot) -> Bool {
        func bits(_ d: Double) -> UInt64 { d.bitPattern }
        var ra = a.record, rb = b.record
        guard bits(ra.created) == bits(rb.created), bits(ra.lastActivity) == bits(rb.lastActivity),
              scalars(ra.name) == scalars(rb.name), scalars(ra.model) == scalars(rb.model), scalars(ra.wire) == scalars(rb.wire),
              ra.settings.mapValues(scalars) == rb.settings.mapValues(scalars) else { return false }
        (ra.created, ra.lastActivity, rb.created, rb.lastActivity) = (0, 0, 0, 0)
        return ra == rb && a.context == b.context && a.history == b.history && a.interrupted == b.interrupted && a.output == b.output && a.errors == b.errors
            && a.queue.count == b.queue.count
            && zip(a.queue, b.queue).allSatisfy { x, y in
                x.id == y.id && x.content == y.content && x.headers == y.headers && x.uid == y.uid && bits(x.time) == bits(y.time)
                    && x.route.storedForm == y.route.storedForm
            }
    }

    static let encodings = Generator<FuzzInput, ByteShrink>.tagged { r in
        let encoded = SnapshotCodec.encode(snapshot(&r))
        switch r.int(below: 10) {
        case 0..<3: return ("whole", encoded)
        case 3..<8: return ("mutated", Mutate.bytes(encoded, &r, times: r.int(1...3)))
        case 8: return ("random", [r.chance(80) ? 1 : r.byte()] + r.bytes(r.length(max: 200)))
        default:
            let cut = r.int(0...encoded.count)
            return (cut < encoded.count ? "cut" : "whole", Array(encoded.prefix(cut)))
        }
    }

    @Test("SnapshotCodec: decode(encode(x)) == x, and every cut of an encoding throws")
    func codecRoundTrip() async {
        let tally = Tally("snapshot codec (round trip)")
        let started = ContinuousClock.now
        let snapshots = Generator<SocketSnapshot, Shrink.None<SocketSnapshot>> { rng in
            var r = SplitMix(&rng)
            return Self.snapshot(&r)
        }
        await propertyCheck(count: Fuzz.inputs, input: snapshots) { original in
            await tally.input()
            let encoded = SnapshotCodec.encode(original)
            do {
                let back = try SnapshotCodec.decode(encoded)
                tally.check(Self.same(original, back), "decode(encode(x)) is not x: \(original.record.name.debugDescription)")
                tally.accepted += 1
            } catch {
                tally.check(false, "decode(encode(x)) threw \(error)")
            }
            // Every strict prefix is missing something, so it must throw.
            var cut = SplitMix(seed: UInt64(encoded.count))
            for length in [encoded.count - 1, cut.int(0...(encoded.count - 1))] {
                tally.check((try? SnapshotCodec.decode(Array(encoded.prefix(length)))) == nil, "a cut at \(length) of \(encoded.count) bytes decoded")
            }
        }
        tally.report(started: started)
    }

    @Test("SnapshotCodec: any bytes throw a StoreError or decode, never trap")
    func codecAnyBytes() async {
        let tally = Tally("snapshot codec (any bytes)")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.encodings) { input in
            await tally.input()
            do {
                let decoded = try SnapshotCodec.decode(input.bytes)
                tally.accepted += 1
                tally.check(input.tag != "cut" && input.tag != "random", "\(input.tag) bytes decoded")
                // What decodes is normalized: writing it again reads back the same.
                let again = try SnapshotCodec.decode(SnapshotCodec.encode(decoded))
                tally.check(Self.same(decoded, again), "decode(encode(decode(bytes))) differs")
            } catch let error as StoreError {
                tally.refused += 1
                tally.check(!error.description.isEmpty, "a refusal without a reason")
                tally.check(input.tag != "whole", "a whole encoding was refused: \(error)")
            } catch {
                tally.check(false, "decode threw \(error), not a StoreError")
            }
        }
        tally.report(started: started)
    }
}
