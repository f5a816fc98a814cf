@testable import AIFSCore
import Foundation
import Testing

/// The byte-level JSON writer of the hot paths writes what ``JSONText`` and ``WallClock`` write.
@Suite("JSON bytes")
struct JSONBytesTests {
    @Test("strings: the same text as JSONText, control characters, quotes, backslashes and every plane; 2,000 random ones")
    func strings() throws {
        var g = JournalTests.Seeded(state: 17)
        let pieces = ["", "a", "é", "日本", "\0", "\u{1}", "\u{1f}", "\u{7f}", "\"", "\\", "\n", "\r", "\t", "🙂", "x y", "\u{2028}"]
        var samples = pieces
        for _ in 0..<2_000 {
            samples.append((0..<Int.random(in: 0...8, using: &g)).map { _ in pieces.randomElement(using: &g)! }.joined())
        }
        for text in samples {
            var out = JSONBytes()
            out.string(text)
            #expect(String(decoding: out.bytes, as: UTF8.self) == JSONText.string(text), "\(Array(text.utf8))")
            let decoded = try JSONSerialization.jsonObject(with: Data(out.bytes), options: [.fragmentsAllowed]) as? String
            #expect(decoded == text)
        }
    }

    @Test("numbers in decimal, booleans, and UTC times as WallClock writes them")
    func numbersAndTimes() {
        for value in [0, 1, -1, 9, 10, 99, 100, -12_345, Int.max, Int.min] {
            var out = JSONBytes()
            out.int(value)
            #expect(String(decoding: out.bytes, as: UTF8.self) == String(value))
        }
        var unsigned = JSONBytes()
        unsigned.unsigned(UInt64.max)
        #expect(String(decoding: unsigned.bytes, as: UTF8.self) == String(UInt64.max))
        var flags = JSONBytes()
        flags.bool(true)
        flags.bool(false)
        #expect(String(decoding: flags.bytes, as: UTF8.self) == "truefalse")
        var g = JournalTests.Seeded(state: 5)
        let times = [0, 0.0005, 0.9999, 1_700_000_000.25, 951_782_400, 4_102_444_799.999]
            + (0..<500).map { _ in Double.random(in: 0...4e9, using: &g) }
        for time in times {
            for fraction in [false, true] {
                var out = JSONBytes()
                out.iso8601(time, fraction: fraction)
                #expect(String(decoding: out.bytes, as: UTF8.self) == "\"" + WallClock.iso8601(time, fraction: fraction) + "\"", "\(time)")
            }
        }
    }

    @Test("a memory's metadata and a socket's settings: sorted keys, escaped, valid JSON")
    func objects() throws {
        let text = BatchWriter.jsonObject(["b": "two\n", "a": "\"one\"", "é": ""])
        #expect(text == #"{"a":"\"one\"","b":"two\n","é":""}"#)
        #expect(BatchWriter.jsonObject([:]) == "{}" && BatchWriter.jsonArray([]) == "[]")
        #expect(BatchWriter.jsonArray(["x", "y\t"]) == #"["x","y\t"]"#)
        let parsed = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String]
        #expect(parsed == ["b": "two\n", "a": "\"one\"", "é": ""])
    }
}
