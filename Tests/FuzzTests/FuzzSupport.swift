import Foundation
import PropertyBased
import Testing

/// Shared pieces of the fuzz targets: the input budget, a fast seeded generator, the byte
/// alphabets that reach deep, a shrinker for byte inputs and the tally each target prints.
///
/// Every target runs `Fuzz.inputs` generated inputs through `propertyCheck` (PropertyBased): each
/// input is drawn from the library's seeded generator, so a failure prints the input (shrunk)
/// and a `.fixedSeed(...)` that replays it. A trap (a crash) ends the test process, so a run that
/// prints its tally line survived every input.
enum Fuzz {
    /// Inputs per target: 100,000 (what CI runs); `AIFS_FUZZ_INPUTS=N` runs N instead, e.g. for a
    /// long local session.
    static let inputs: Int = {
        if let text = ProcessInfo.processInfo.environment["AIFS_FUZZ_INPUTS"], let n = Int(text), n > 0 { return n }
        return 100_000
    }()
}

/// SplitMix64: a small, fast generator of a concrete type. Each input seeds one from the
/// library's generator, so inputs stay reproducible from the printed seed.
struct SplitMix: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    init(_ rng: inout any SeededRandomNumberGenerator) { state = rng.next() }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &self) }
    mutating func int(below n: Int) -> Int { Int.random(in: 0..<n, using: &self) }
    /// True with probability `percent`/100.
    mutating func chance(_ percent: Int) -> Bool { int(below: 100) < percent }
    mutating func pick<T>(_ items: [T]) -> T { items[int(below: items.count)] }
    mutating func byte() -> UInt8 { UInt8(truncatingIfNeeded: next()) }
    mutating func bytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in byte() } }
    /// A length that is usually small and sometimes large: most inputs stay fast, some are long.
    mutating func length(max: Int) -> Int {
        switch int(below: 100) {
        case 0..<70: return int(0...min(max, 16))
        case 70..<95: return int(0...min(max, 256))
        default: return int(0...max)
        }
    }
}

/// Byte fragments that tend to break text handling: multi-byte UTF-8 (2, 3 and 4 bytes),
/// combining marks (which Swift glues to the character before them), CRLF, NUL, invalid
/// UTF-8 (lone continuation bytes, truncated sequences, overlongs, surrogates, 0xFF).
enum Zoo {
    static let text: [[UInt8]] = [
        Array("é".utf8), Array("ß".utf8), Array("日本語".utf8), Array("😀".utf8), Array("👩‍👩‍👧".utf8),
        Array("\u{0301}".utf8), Array("e\u{0301}".utf8), Array(" \u{0301}".utf8), Array(":\u{0301}".utf8),
        Array("\u{200D}".utf8), Array("\u{FEFF}".utf8), Array("\u{2028}".utf8), Array("\u{00A0}".utf8),
        Array("\u{202E}".utf8), Array("🇫🇷".utf8), Array("\u{0308}\u{0301}".utf8), Array("\u{1F3FB}".utf8),
        [0x00], [0x0D, 0x0A], [0x0D], [0x0A], [0x09], [0x0B], [0x0C], [0x7F], [0x1B],
    ]
    static let invalid: [[UInt8]] = [
        [0x80], [0xBF], [0xC0, 0xAF], [0xC3], [0xE2, 0x82], [0xED, 0xA0, 0x80], [0xF0, 0x9F, 0x98],
        [0xF4, 0x90, 0x80, 0x80], [0xFF], [0xFE], [0xF8, 0x88, 0x80, 0x80, 0x80],
    ]

    /// One fragment: ASCII, a zoo item or invalid UTF-8.
    static func fragment(_ r: inout SplitMix, invalid allowInvalid: Bool = true) -> [UInt8] {
        switch r.int(below: 10) {
        case 0..<5: return [UInt8(r.int(0x20...0x7E))]
        case 5..<8: return r.pick(text)
        case 8: return allowInvalid ? r.pick(invalid) : r.pick(text)
        default: return allowInvalid ? [r.byte()] : [UInt8(r.int(0x20...0x7E))]
        }
    }

    /// Random bytes made of fragments.
    static func bytes(_ r: inout SplitMix, count: Int, invalid: Bool = true) -> [UInt8] {
        var out: [UInt8] = []
        while out.count < count { out += fragment(&r, invalid: invalid) }
        return out
    }
}

/// Mutations of a valid-looking input: byte flips, insertions of zoo fragments or of pieces of
/// the input itself, deletions, truncation, duplication.
enum Mutate {
    static func bytes(_ input: [UInt8], _ r: inout SplitMix, times: Int? = nil) -> [UInt8] {
        var b = input
        for _ in 0..<(times ?? r.int(1...4)) {
            let at = b.isEmpty ? 0 : r.int(0...b.count)
            switch r.int(below: 8) {
            case 0 where !b.isEmpty:
                b[min(at, b.count - 1)] ^= UInt8(1) << UInt8(r.int(0...7))
            case 1 where !b.isEmpty:
                b[min(at, b.count - 1)] = r.byte()
            case 2:
                b.insert(contentsOf: Zoo.fragment(&r), at: at)
            case 3 where !b.isEmpty:
                let end = min(b.count, at + r.int(1...8))
                b.removeSubrange(min(at, end)..<end)
            case 4 where !b.isEmpty:
                b = Array(b.prefix(r.int(0...b.count)))
            case 5 where !b.isEmpty:
                let start = r.int(0...(b.count - 1)), end = min(b.count, start + r.int(1...16))
                b.insert(contentsOf: b[start..<end], at: at)
            case 6:
                b.insert(contentsOf: r.pick([[0x20], [0x09], [0x0A], [0x0D, 0x0A], [0x23], [0x22], [0x5B], [0x5D]]), at: at)
            default:
                b.insert(r.byte(), at: at)
            }
        }
        return b
    }
}

/// A byte input plus a seed for whatever the target derives from it (chunk boundaries, …).
/// Shrinking removes bytes and keeps the seed.
struct FuzzInput: Sendable, CustomTestStringConvertible {
    var bytes: [UInt8]
    var seed: UInt64
    /// Which way the generator made it, for properties that hold for one kind of input only.
    var tag = ""

    var testDescription: String {
        let shown = bytes.prefix(600).map { b -> String in
            switch b {
            case 0x20...0x7E where b != 0x5C && b != 0x22: return String(UnicodeScalar(b))
            case 0x0A: return "\\n"
            case 0x0D: return "\\r"
            case 0x09: return "\\t"
            default: return String(format: "\\x%02X", b)
            }
        }.joined()
        return (tag.isEmpty ? "" : tag + " ") + "\"\(shown)\"" + (bytes.count > 600 ? " … (\(bytes.count) bytes)" : "") + " seed \(seed)"
    }
}

/// Shrink candidates for a byte input: drop halves, then quarters, … down to single bytes (only
/// for short inputs, so shrinking a long input stays quick). Lazy: the shrinker stops at the
/// first candidate that still fails.
struct ByteShrink: Sequence, Sendable {
    let input: FuzzInput

    func makeIterator() -> AnyIterator<FuzzInput> {
        // A smaller input is no longer what its tag says (a whole encoding, a cut of one…).
        let bytes = input.bytes, seed = input.seed, tag = input.tag.isEmpty ? "" : "shrunk from \(input.tag)"
        let smallest = bytes.count <= 512 ? 1 : Swift.max(1, bytes.count / 64)
        var size = bytes.count / 2
        var start = 0
        var emptyTried = false
        return AnyIterator {
            if !emptyTried {
                emptyTried = true
                if !bytes.isEmpty { return FuzzInput(bytes: [], seed: seed, tag: tag) }
            }
            while size >= smallest && size > 0 {
                if start < bytes.count {
                    var candidate = bytes
                    candidate.removeSubrange(start..<Swift.min(start + size, bytes.count))
                    start += size
                    return FuzzInput(bytes: candidate, seed: seed, tag: tag)
                }
                start = 0
                size = size == 1 ? 0 : size / 2
            }
            return nil
        }
    }
}

extension Generator where ResultValue == FuzzInput, ShrinkSequence == ByteShrink {
    /// A generator of byte inputs, made by `make` from a fast seeded generator, shrinkable.
    static func bytes(_ make: @escaping @Sendable (inout SplitMix) -> [UInt8]) -> Self {
        Generator(
            run: { rng in
                var r = SplitMix(&rng)
                let seed = r.next()
                return FuzzInput(bytes: make(&r), seed: seed)
            },
            shrink: { ByteShrink(input: $0) })
    }

    /// The same, for a generator that also says which kind of input it made.
    static func tagged(_ make: @escaping @Sendable (inout SplitMix) -> (String, [UInt8])) -> Self {
        Generator(
            run: { rng in
                var r = SplitMix(&rng)
                let seed = r.next()
                let (tag, bytes) = make(&r)
                return FuzzInput(bytes: bytes, seed: seed, tag: tag)
            },
            shrink: { ByteShrink(input: $0) })
    }
}

/// What a target counts: every input, how many the code under test accepted and refused, and
/// property failures (each also recorded as an issue, so the test fails).
final class Tally {
    let name: String
    private(set) var inputs = 0
    var accepted = 0
    var refused = 0
    var failures = 0
    /// Extra counters a target wants printed (e.g. "hits").
    var extra: [(String, Int)] = []

    init(_ name: String) { self.name = name }

    /// Counts one input. Every 64 inputs it yields, so that a fuzz loop (which never waits) does
    /// not hold a thread of the cooperative pool for a minute while other tests, in parallel, wait
    /// for timers and I/O on the same two threads.
    func input() async {
        inputs += 1
        if inputs % 64 == 0 { await Task.yield() }
    }

    /// Checks a property of one input; a failure is recorded with the details.
    func check(_ condition: Bool, _ what: @autoclosure () -> String, sourceLocation: SourceLocation = #_sourceLocation) {
        guard !condition else { return }
        failures += 1
        Issue.record("property broken: \(what())", sourceLocation: sourceLocation)
    }

    func add(_ key: String, _ n: Int = 1) {
        if let i = extra.firstIndex(where: { $0.0 == key }) { extra[i].1 += n } else { extra.append((key, n)) }
    }

    /// Prints `fuzz NAME: N inputs, 0 crashes, …` and checks the whole budget ran.
    func report(expected: Int = Fuzz.inputs, started: ContinuousClock.Instant, sourceLocation: SourceLocation = #_sourceLocation) {
        let elapsed = ContinuousClock.now - started
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        let more = extra.map { ", \($0.1) \($0.0)" }.joined()
        print("fuzz \(name): \(inputs) inputs, 0 crashes, \(failures) property failures, \(accepted) accepted, \(refused) refused\(more) in \(String(format: "%.1f", seconds)) s")
        #expect(inputs >= expected, "the whole budget of \(expected) inputs ran", sourceLocation: sourceLocation)
    }
}

/// Lines the way the SSE format (and LineSplitter) end them: `\r\n`, `\r` or `\n`, found in the
/// whole buffer at once; the last line without a terminator is kept if it is not empty.
func referenceLines(_ bytes: [UInt8]) -> [[UInt8]] {
    var lines: [[UInt8]] = []
    var current: [UInt8] = []
    var i = 0
    while i < bytes.count {
        let b = bytes[i]
        i += 1
        if b == 0x0A {
            lines.append(current)
            current = []
        } else if b == 0x0D {
            lines.append(current)
            current = []
            if i < bytes.count, bytes[i] == 0x0A { i += 1 }
        } else {
            current.append(b)
        }
    }
    if !current.isEmpty { lines.append(current) }
    return lines
}

/// Cuts `bytes` into chunks at random places (single bytes, empty chunks, inside UTF-8
/// sequences, between `\r` and `\n`), or leaves them whole, from `seed`.
func chunks(_ bytes: [UInt8], seed: UInt64) -> [ArraySlice<UInt8>] {
    var r = SplitMix(seed: seed)
    var out: [ArraySlice<UInt8>] = []
    var at = 0
    let style = r.int(below: 5)
    while at < bytes.count {
        let size: Int
        switch style {
        case 0: size = 1
        case 1: size = r.int(0...3)
        case 2: size = r.int(1...64)
        case 3: size = r.chance(50) ? r.int(0...2) : r.int(1...512)
        default: size = bytes.count
        }
        let end = min(bytes.count, at + size)
        out.append(bytes[at..<end])
        at = end
    }
    if r.chance(20) { out.append([][...]) }
    return out
}

/// The unicode scalars of a string: equality that does not treat canonically equivalent text
/// as equal (Swift's `String ==` does).
func scalars(_ s: String) -> [UInt32] { s.unicodeScalars.map(\.value) }
