@testable import AIFSCore
import Foundation
import PropertyBased
import Testing

/// The header protocol (`[priority-high]`, `[team-chat-to-NAME]` at the start of a message)
/// against a byte-level reference, on messages with header tokens in every position.
@Suite("fuzz: header parser")
struct HeaderFuzzTests {
    static let names = ["a", "apollo", "A.b_c-9", "x-1", String(repeating: "n", count: 64), String(repeating: "n", count: 65),
                        ".hidden", "ctl", "memory", "team-chat-all", "", "a b", "é", "a]b", "a/b"]

    static func token(_ r: inout SplitMix) -> [UInt8] {
        switch r.int(below: 14) {
        case 0..<4: return Array("[priority-high]".utf8)
        case 4..<8: return Array("[team-chat-to-\(r.pick(names))]".utf8)
        case 8: return Array(r.pick(["[note]", "[PRIORITY-HIGH]", "[ priority-high]", "[priority-high ]", "[priority-high",
                                     "priority-high]", "[]", "[[priority-high]]", "[team-chat-to-]", "[team-chat-from-a]",
                                     "[broadcast]", "[thinking]", "]", "["]).utf8)
        case 9: return [0x5B] + Array(repeating: UInt8(ascii: "x"), count: r.int(95...105)) + [0x5D]
        case 10: return [0x5B] + Zoo.bytes(&r, count: r.int(1...12)) + [0x5D]
        case 11: return Array("[team-chat-to-".utf8) + Zoo.bytes(&r, count: r.int(1...8)) + [0x5D]
        default: return Array("[priority-high]".utf8) + Zoo.fragment(&r)
        }
    }

    static func blanks(_ r: inout SplitMix) -> [UInt8] {
        (0..<r.pick([0, 0, 0, 1, 1, 2, 5])).map { _ in r.pick([0x20, 0x20, 0x09, 0x0A, 0x0D]) }
    }

    /// Messages: header tokens at the start, in the middle and after content, blanks of every
    /// kind between them; sometimes mutated, sometimes raw bytes, sometimes long.
    static let messages = Generator<FuzzInput, ByteShrink>.bytes { r in
        switch r.int(below: 100) {
        case 0..<10:
            return Zoo.bytes(&r, count: r.length(max: 400))
        case 10..<12 where r.chance(25):
            // Many headers in a row, or one unterminated bracket before a long body.
            if r.chance(50) { return Array(repeating: Array("[priority-high] ".utf8), count: r.int(100...2000)).flatMap { $0 } + [0x78] }
            return [0x5B] + Array(repeating: UInt8(ascii: "y"), count: r.int(1000...70_000))
        default:
            var out = blanks(&r)
            for _ in 0..<r.int(0...4) { out += token(&r) + blanks(&r) }
            out += Zoo.bytes(&r, count: r.length(max: 120))
            if r.chance(30) { out += token(&r) + Zoo.bytes(&r, count: r.length(max: 20)) }
            return r.chance(20) ? Mutate.bytes(out, &r) : out
        }
    }

    // MARK: Reference

    static let priority = Array("[priority-high]".utf8)
    static let toPrefix = Array("[team-chat-to-".utf8)

    static func nameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
    }

    /// A recognized header token at `i` (no blanks before it): its end and what it says.
    static func header(_ m: [UInt8], at i: Int, recipients: Bool) -> (end: Int, recipient: String?)? {
        if m.count - i >= priority.count, Array(m[i..<(i + priority.count)]) == priority { return (i + priority.count, nil) }
        guard recipients, m.count - i > toPrefix.count, Array(m[i..<(i + toPrefix.count)]) == toPrefix else { return nil }
        var j = i + toPrefix.count
        while j < m.count, nameByte(m[j]) { j += 1 }
        guard j < m.count, m[j] == 0x5D else { return nil }
        let name = m[(i + toPrefix.count)..<j]
        guard !name.isEmpty, name.count <= 64, name.first != 0x2E else { return nil }
        let text = String(decoding: name, as: UTF8.self)
        guard !SocketName.reserved.contains(text) else { return nil }
        return (j + 1, text)
    }

    /// The headers at the start of `m` and where the content starts, by the SPEC's rules:
    /// blanks (space, tab) between tokens, then one space or newline after the last.
    static func reference(_ m: [UInt8], recipients: Bool) -> (MessageHeaders, Int) {
        var headers = MessageHeaders()
        var end = 0
        while true {
            var i = end
            while i < m.count, m[i] == 0x20 || m[i] == 0x09 { i += 1 }
            guard let found = header(m, at: i, recipients: recipients) else { break }
            if let name = found.recipient { headers.recipients.append(name) } else { headers.priorityHigh = true }
            end = found.end
        }
        if end > 0, end < m.count, m[end] == 0x20 || m[end] == 0x0A { end += 1 }
        return (headers, end)
    }

    @Test("MessageHeaders.parse")
    func headers() async {
        let tally = Tally("header parser")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.messages) { input in
            await tally.input()
            let m = input.bytes
            for allow in [true, false] {
                let (headers, content) = MessageHeaders.parse(m, recipients: allow)
                let (expected, start) = Self.reference(m, recipients: allow)
                tally.check(content.count <= m.count && m.suffix(content.count).elementsEqual(content),
                            "the content is not a suffix of the message")
                tally.check(headers == expected && content.count == m.count - start,
                            "recipients \(allow): got \(headers) and \(content.count) content bytes, expected \(expected) and \(m.count - start)")
                tally.check(content.count < m.count || headers == MessageHeaders(), "headers without consuming anything")
                tally.check(allow || headers.recipients.isEmpty, "recipients where they are content")
                tally.check(headers.recipients.allSatisfy(SocketName.isValid), "a bad recipient name: \(headers.recipients)")
            }
            let (headers, _) = MessageHeaders.parse(m)
            if headers == MessageHeaders() { tally.refused += 1 } else { tally.accepted += 1 }
            if headers.priorityHigh { tally.add("priority-high") }
            tally.add("recipients", headers.recipients.count)
        }
        tally.report(started: started)
    }

    @Test("headers come only from the start: tokens, then a newline, then any content")
    func startOnly() async {
        let tally = Tally("header parser (headers + newline + content)")
        let started = ContinuousClock.now
        let inputs = Generator<([UInt8], MessageHeaders, [UInt8]), Shrink.None<([UInt8], MessageHeaders, [UInt8])>> { rng in
            var r = SplitMix(&rng)
            var head: [UInt8] = []
            var expected = MessageHeaders()
            for _ in 0..<r.int(1...4) {
                head += (0..<r.int(0...2)).map { _ in r.chance(50) ? 0x20 : 0x09 }
                if r.chance(50) {
                    head += Self.priority
                    expected.priorityHigh = true
                } else {
                    let name = r.pick(["a", "apollo", "A.b_c-9", String(repeating: "z", count: 64)])
                    head += Array("[team-chat-to-\(name)]".utf8)
                    expected.recipients.append(name)
                }
            }
            var content = r.chance(50) ? Self.token(&r) : []
            content += Zoo.bytes(&r, count: r.length(max: 200))
            return (head + [0x0A], expected, content)
        }
        await propertyCheck(count: Fuzz.inputs, input: inputs) { value in
            let (head, expected, content) = value
            await tally.input()
            let (headers, parsed) = MessageHeaders.parse(head + content)
            tally.check(headers == expected, "headers \(headers), expected \(expected)")
            tally.check(parsed == content, "content \(parsed.count) bytes, expected the \(content.count) after the newline")
            tally.accepted += 1
        }
        tally.report(started: started)
    }
}
