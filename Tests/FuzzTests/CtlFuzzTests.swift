@testable import AIFSCore
import Foundation
import FuseKit
import PropertyBased
import Testing

/// The three ctl parsers (a socket's `ctl`, `team-chat-all/ctl`, `/ai/ctl`) on valid-looking
/// command text with mutations, and on raw bytes.
@Suite("fuzz: ctl parsers")
struct CtlFuzzTests {
    enum Dialect: Sendable { case socket, team, daemon }

    static let verbs: [Dialect: [String]] = [
        .socket: ["model", "set", "reset", "cancel", "state", "headers", "fork", "wire", "unwire", "restore"],
        .team: ["mode", "moderator", "timeout"],
        .daemon: ["create", "snapshot", "restore", "reload"],
    ]
    /// In a fixed order (a dictionary's order changes from run to run, and a seed must replay).
    static let allVerbs = ["model", "set", "reset", "cancel", "state", "headers", "fork", "wire", "unwire", "restore", "mode",
                           "moderator", "timeout", "create", "snapshot", "reload", "bogus", "", "#", "MODEL", "reset\u{0301}"]
    static let words = [
        "echo", "echo/slow", "openai/gpt-4o", "a/b/c", "/", "on", "off", "active", "inactive", "unresponsive", "fanout",
        "discuss", "none", "-", "off", "temperature", "max-tokens", "top-p", "timeout", "context-tokens", "capabilities",
        "colour", "apollo", "A.b_c-9", ".hidden", "..", "ctl", "models", "memory", "snapshots", "team-chat-all", "a b",
        "x/y", String(repeating: "n", count: 64), String(repeating: "n", count: 65), "#", "#x", "\"", "\"\"", "\"quoted words\"",
        "0", "1", "2", "-0", "0.5", "2.0000001", "1e3", "1E-3", "0x1p1", "nan", "NaN", "inf", "-inf", "+1", "1_000", "10000000",
        "10000001", "86400", "86400.0001", "1e-300", "4.9e-324", "1.7976931348623157e308", "٣", "１", "0.", ".5",
        "9999999999999999999999", "-1", "00001", "é", "e\u{0301}", "日本", "😀",
    ]

    /// One line: a verb (usually of this dialect), arguments from the pool or random text,
    /// separated by runs of spaces and tabs, sometimes with leading or trailing blanks or `\r`.
    static func line(_ r: inout SplitMix, _ dialect: Dialect) -> [UInt8] {
        var parts: [[UInt8]] = []
        let own = verbs[dialect]!
        let verb = r.chance(85) ? r.pick(own) : r.pick(allVerbs)
        parts.append(Array(verb.utf8))
        if verb == "set", r.chance(80) {
            parts.append(Array(r.pick(Setting.allCases.map(\.rawValue) + ["colour"]).utf8))
        }
        for _ in 0..<(r.chance(70) ? r.int(0...2) : r.int(0...6)) {
            parts.append(r.chance(80) ? Array(r.pick(words).utf8) : Zoo.bytes(&r, count: r.length(max: 40), invalid: false))
        }
        func blanks(_ r: inout SplitMix, min: Int) -> [UInt8] {
            (0..<r.int(min...(min + 2))).map { _ in r.chance(75) ? 0x20 : 0x09 }
        }
        var out: [UInt8] = r.chance(10) ? blanks(&r, min: 1) : []
        for (i, part) in parts.enumerated() {
            if i > 0 { out += blanks(&r, min: 1) }
            out += part
        }
        if r.chance(10) { out += blanks(&r, min: 1) }
        if r.chance(5) { out.append(0x0D) }
        return out
    }

    /// A name of 1–64 bytes of `[A-Za-z0-9._-]`, not starting with `.` (valid for sockets unless reserved).
    static func name(_ r: inout SplitMix) -> String {
        let alphabet = Array("abcxyzABCXYZ0129._-")
        var n = String((0..<(r.chance(90) ? r.int(1...12) : r.int(60...64))).map { _ in r.pick(alphabet) })
        if n.hasPrefix(".") { n = "s" + n.dropFirst() }
        return SocketName.reserved.contains(n) ? "s" + n.dropFirst() : n
    }

    /// A number in `range`, written in one of the ways Swift's parsers take.
    static func number(_ r: inout SplitMix, _ range: ClosedRange<Double>, whole: Bool = false) -> String {
        let v = Double.random(in: range, using: &r)
        if whole { return String(max(1, Int(v))) }
        switch r.int(below: 4) {
        case 0: return String(v)
        case 1: return String(format: "%.3f", v)
        case 2: return String(Int(v))
        default: return String(format: "%g", v)
        }
    }

    /// A command that is valid in `dialect` (so the accepted paths and the re-parse are exercised).
    static func validLine(_ r: inout SplitMix, _ dialect: Dialect) -> String {
        switch dialect {
        case .socket:
            switch r.int(below: 15) {
            case 0: return "model " + r.pick(["echo", "echo/slow", "openai/gpt-4o", "ollama/llama3.2:8b", "a/b/c"])
            case 1:
                let key = r.pick(Setting.allCases.filter { $0 != .forkedFrom })
                let value: String
                switch key {
                case .autoCompact: value = String(r.int(0...100))
                case .forkedFrom: value = "never picked"
                case .temperature: value = number(&r, 0...2)
                case .topP: value = number(&r, 0.001...1)
                case .maxTokens, .contextTokens: value = number(&r, 1...10_000_000, whole: true)
                case .timeout: value = number(&r, 0.01...86_400)
                case .capabilities, .description:
                    let words = (0..<r.int(0...6)).map { _ in String(decoding: Zoo.bytes(&r, count: r.int(1...8), invalid: false), as: UTF8.self) }
                    value = r.chance(50) ? "\"" + words.joined(separator: " ") + "\"" : words.joined(separator: " ")
                case .tools: value = r.chance(20) ? "none" : (0..<r.int(1...4)).map { _ in r.pick(["bash", "read", "write", "list", "ask", "my-tool_2"]) }.joined(separator: ",")
                case .security: value = r.pick(SecurityMode.allCases).rawValue
                case .workdir: value = "/" + name(&r)
                case .maxToolRounds: value = String(r.int(1...1000))
                }
                return "set \(key.rawValue) \(value)"
            case 2: return "reset"
            case 3: return "cancel"
            case 4: return "state " + r.pick(SocketState.allCases).rawValue
            case 5: return "headers " + r.pick(["on", "off"])
            case 6: return "fork " + name(&r)
            case 7: return "wire " + name(&r)
            case 8: return "unwire"
            case 9: return "fork " + name(&r) + " " + (r.chance(50) ? "#" : "") + String(r.int(0...1_000_000))
            case 10: return "compact"
            case 11: return "uncompact"
            case 12:
                let id = "\(r.int(1...1_000_000)).\(r.int(1...100))"
                switch r.int(below: 5) {
                case 0: return "approve " + id
                case 1: return "approve all"
                case 2: return "deny " + id + (r.chance(50) ? " " + name(&r) : "")
                case 3: return "undo " + id
                default: return r.chance(50) ? "tools " + r.pick(["bash,read", "none", "ask"]) : "security " + r.pick(SecurityMode.allCases).rawValue
                }
            default: return "restore " + name(&r)
            }
        case .team:
            switch r.int(below: 3) {
            case 0:
                switch r.int(below: 5) {
                case 0: return "mode fallback " + (0..<r.int(1...4)).map { _ in name(&r) }.joined(separator: ",")
                default: return "mode " + r.pick(["fanout", "discuss", "race", "fallback"])
                }
            case 1: return "moderator " + (r.chance(25) ? r.pick(["none", "-", "off"]) : name(&r))
            default: return "timeout " + number(&r, 0.01...86_400)
            }
        case .daemon:
            switch r.int(below: 4) {
            case 0: return "create " + name(&r) + (r.chance(50) ? " echo/slow" : "")
            case 1: return "snapshot" + (r.chance(50) ? " " + name(&r) : "")
            case 2: return "restore " + name(&r)
            default: return "reload"
            }
        }
    }

    /// Ctl text: one to a few lines (blank lines and `#` comments among them) ending in `\n`,
    /// `\r\n` or nothing; sometimes mutated, sometimes random bytes, sometimes a line too long.
    static func text(_ dialect: Dialect) -> Generator<FuzzInput, ByteShrink> {
        .bytes { r in
            switch r.int(below: 100) {
            case 0..<8:
                return Zoo.bytes(&r, count: r.length(max: 300))
            case 8..<11:
                // Around the 4096-byte line limit.
                let verb = Array(r.pick(verbs[dialect]!).utf8) + [0x20]
                return verb + Array(repeating: UInt8(ascii: "x"), count: r.int(4080...4110) - verb.count)
            default:
                var out: [UInt8] = []
                let crlf = r.chance(25)
                for _ in 0..<r.int(1...4) {
                    switch r.int(below: 10) {
                    case 0: break
                    case 1: out += Array("# a comment".utf8)
                    case 2, 3, 4: out += Array(validLine(&r, dialect).utf8)
                    default: out += line(&r, dialect)
                    }
                    out += crlf ? [0x0D, 0x0A] : [0x0A]
                }
                if r.chance(20) { out.removeLast(crlf ? 2 : 1) }
                return r.chance(25) ? Mutate.bytes(out, &r) : out
            }
        }
    }

    // MARK: The reference for "one command per line"

    /// The lines of ctl text that are commands: split at every `\n` byte, blanks (space, tab,
    /// `\r`) trimmed, empty lines and `#` comments skipped.
    static func commandLines(_ text: String) -> [String] {
        text.utf8.split(separator: 0x0A, omittingEmptySubsequences: false).compactMap { piece in
            var line = Substring(piece)
            while let c = line.first, c == " " || c == "\t" || c == "\r" { line.removeFirst() }
            while let c = line.last, c == " " || c == "\t" || c == "\r" { line.removeLast() }
            return line.isEmpty || line.hasPrefix("#") ? nil : String(line)
        }
    }

    /// parseLines is all or nothing: it returns every line's command, or refuses with the
    /// reason of the first line that is refused.
    static func checkLines<C: Equatable>(_ text: String, _ tally: Tally, parse: (String) throws(ControlError) -> C,
                                          parseLines: (String) throws(ControlError) -> [C], check: (String, C) -> Void) {
        var expected: [C] = []
        var firstRefusal: ControlError?
        for line in commandLines(text) {
            do {
                let command = try parse(line)
                check(line, command)
                expected.append(command)
            } catch {
                tally.check(!error.reason.isEmpty, "a refusal without a reason for \(line.debugDescription)")
                tally.check(error.errno == .EINVAL, "a refusal that is not EINVAL")
                tally.check(error.reason.utf8.count <= line.utf8.count + 200, "an unbounded reason: \(error.reason.prefix(200))")
                if firstRefusal == nil { firstRefusal = error }
            }
        }
        do {
            let commands = try parseLines(text)
            tally.accepted += 1
            tally.add("commands", commands.count)
            tally.check(firstRefusal == nil, "parseLines accepted \(text.debugDescription), but a line is refused: \(firstRefusal?.reason ?? "")")
            tally.check(commands == expected, "parseLines gave \(commands), line by line gives \(expected), for \(text.debugDescription)")
        } catch {
            tally.refused += 1
            tally.check(firstRefusal != nil, "parseLines refused \(text.debugDescription) (\(error.reason)), but every line parses alone")
            tally.check(error == firstRefusal, "parseLines refused with '\(error.reason)', the first bad line with '\(firstRefusal?.reason ?? "")'")
        }
    }

    /// Runs a dialect's checks on `input`: the text decoded lossily (the parsers take any
    /// string), as the daemon would only see it if it is valid UTF-8.
    static func run(_ tally: Tally, _ input: FuzzInput, _ checkText: (String) -> Void) async {
        await tally.input()
        checkText(String(decoding: input.bytes, as: UTF8.self))
    }

    // MARK: A socket's ctl

    static func render(_ command: ControlCommand) -> String {
        switch command {
        case .model(let m): return "model\t\(m)"
        case .set(let key, let value):
            let quoted = value.isEmpty || (value.count >= 2 && value.hasPrefix("\"") && value.hasSuffix("\""))
                || value.first == " " || value.last == " "
            return "set\t\(key.rawValue)\t" + (quoted ? "\"\(value)\"" : value)
        case .reset: return "reset"
        case .cancel: return "cancel"
        case .state(let s): return "state\t\(s.rawValue)"
        case .headers(let on): return "headers \(on ? "on" : "off")"
        case .fork(let n, nil): return "fork\t\(n)"
        case .fork(let n, let turn?): return "fork\t\(n) \(turn)"
        case .compact: return "compact"
        case .uncompact: return "uncompact"
        case .wire(let n): return "wire\t\(n)"
        case .unwire: return "unwire"
        case .restore(let n): return "restore\t\(n)"
        case .approve(nil): return "approve all"
        case .approve(let id?): return "approve\t\(id)"
        case .deny(let id, let reason): return "deny \(id)" + (reason.isEmpty ? "" : " \(reason)")
        case .undo(let id): return "undo\t\(id)"
        }
    }

    /// What an accepted socket command must satisfy, and that its rendering parses back to it.
    static func checkAccepted(_ line: String, _ command: ControlCommand, _ tally: Tally) {
        tally.check(line.utf8.count <= ControlCommand.maxLineLength, "a line over the limit was accepted")
        switch command {
        case .model(let m):
            tally.check(!m.isEmpty && !m.contains(where: { $0 == " " || $0 == "\t" }), "model id \(m.debugDescription)")
        case .set(let key, let value):
            let ok: Bool
            switch key {
            case .temperature: ok = Double(value).map { $0 >= 0 && $0 <= 2 } ?? false
            case .topP: ok = Double(value).map { $0 > 0 && $0 <= 1 } ?? false
            case .maxTokens, .contextTokens: ok = Int(value).map { $0 >= 1 && $0 <= 10_000_000 } ?? false
            case .timeout: ok = Double(value).map { $0 > 0 && $0 <= 86_400 } ?? false
            case .capabilities: ok = value.utf8.count <= 200
            case .description: ok = value.utf8.count <= 1000
            case .autoCompact: ok = Int(value).map { $0 >= 0 && $0 <= 100 } ?? false
            case .forkedFrom: ok = false
            case .tools: ok = value == "none" || value.split(separator: ",", omittingEmptySubsequences: false).allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-" } }
            case .security: ok = SecurityMode(rawValue: value) != nil
            case .workdir: ok = value.hasPrefix("/")
            case .maxToolRounds: ok = Int(value).map { $0 >= 1 && $0 <= 1000 } ?? false
            }
            tally.check(ok, "set \(key.rawValue) accepted out-of-range value \(value.debugDescription)")
        case .fork(let n, let turn):
            tally.check(SocketName.isValid(n) && (turn ?? 0) >= 0, "fork accepted the bad socket name \(n.debugDescription) or turn \(String(describing: turn))")
        case .wire(let n):
            tally.check(SocketName.isValid(n), "wire accepted the bad socket name \(n.debugDescription)")
        case .restore(let n):
            tally.check(SnapshotName.problem(with: n) == nil, "restore accepted the bad snapshot name \(n.debugDescription)")
        case .approve(nil):
            break
        case .approve(let id?), .undo(let id), .deny(let id, _):
            tally.check(id.split(separator: ".").count == 2 && id.split(separator: ".").allSatisfy { UInt64($0) != nil },
                        "a bad tool call id was accepted: \(id.debugDescription)")
        case .reset, .cancel, .unwire, .state, .headers, .compact, .uncompact:
            break
        }
        let rendered = render(command)
        do {
            let again = try ControlCommand.parse(rendered)
            tally.check(again == command, "\(line.debugDescription) → \(command) → \(rendered.debugDescription) → \(again)")
        } catch {
            tally.check(false, "\(line.debugDescription) → \(command) → \(rendered.debugDescription) is refused: \(error.reason)")
        }
    }

    @Test("socket ctl: ControlCommand.parse / parseLines")
    func socketControl() async {
        let tally = Tally("ctl parser (socket ctl)")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.text(.socket)) { input in
            await Self.run(tally, input) { text in
                Self.checkLines(text, tally, parse: { (line: String) throws(ControlError) in try ControlCommand.parse(line) }, parseLines: { (text: String) throws(ControlError) in try ControlCommand.parseLines(text) }) { line, command in
                    Self.checkAccepted(line, command, tally)
                }
            }
        }
        tally.report(started: started)
    }

    // MARK: team-chat-all/ctl

    static func render(_ command: TeamCommand) -> String {
        switch command {
        case .mode(let m): return "mode \(m.text)"
        case .moderator(let n): return "moderator\t\(n ?? "none")"
        case .timeout(let s): return "timeout \(s)"
        }
    }

    @Test("team ctl: TeamCommand.parse / parseLines")
    func teamControl() async {
        let tally = Tally("ctl parser (team ctl)")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.text(.team)) { input in
            await Self.run(tally, input) { text in
                Self.checkLines(text, tally, parse: { (line: String) throws(ControlError) in try TeamCommand.parse(line) }, parseLines: { (text: String) throws(ControlError) in try TeamCommand.parseLines(text) }) { line, command in
                    switch command {
                    case .moderator(let n?): tally.check(SocketName.isValid(n), "moderator \(n.debugDescription)")
                    case .timeout(let s): tally.check(s > 0 && s <= 86_400, "timeout \(s)")
                    case .mode(.fallback(let names)):
                        tally.check(!names.isEmpty && Set(names).count == names.count && names.allSatisfy(SocketName.isValid),
                                    "fallback \(names)")
                    default: break
                    }
                    let rendered = Self.render(command)
                    tally.check((try? TeamCommand.parse(rendered)) == command, "\(line.debugDescription) → \(command) → \(rendered.debugDescription)")
                }
            }
        }
        tally.report(started: started)
    }

    // MARK: /ai/ctl

    static func render(_ command: DaemonCommand) -> String {
        switch command {
        case .create(let n, let model): return "create\t\(n)" + (model.map { "\t\($0)" } ?? "")
        case .snapshot(let n): return "snapshot" + (n.map { "\t\($0)" } ?? "")
        case .restore(let n): return "restore\t\(n)"
        case .reload: return "reload"
        }
    }

    @Test("daemon ctl: DaemonCommand.parse / parseLines")
    func daemonControl() async {
        let tally = Tally("ctl parser (/ai/ctl)")
        let started = ContinuousClock.now
        await propertyCheck(count: Fuzz.inputs, input: Self.text(.daemon)) { input in
            await Self.run(tally, input) { text in
                Self.checkLines(text, tally, parse: { (line: String) throws(ControlError) in try DaemonCommand.parse(line) }, parseLines: { (text: String) throws(ControlError) in try DaemonCommand.parseLines(text) }) { line, command in
                    switch command {
                    case .snapshot(let n?), .restore(let n):
                        tally.check(SnapshotName.problem(with: n) == nil, "snapshot name \(n.debugDescription)")
                    default: break
                    }
                    let rendered = Self.render(command)
                    tally.check((try? DaemonCommand.parse(rendered)) == command, "\(line.debugDescription) → \(command) → \(rendered.debugDescription)")
                }
            }
        }
        tally.report(started: started)
    }
}
