import FuseKit

/// A command written as one line to a ctl file: a socket's `ctl` (``ControlCommand``),
/// `/ai/ctl` (``DaemonCommand``) or `team-chat-all/ctl` (``TeamCommand``). Each lists its verbs
/// in a ``CommandTable`` and gets its parsers from it.
public protocol LineCommand: Sendable {
    /// This ctl file's verbs.
    static var commands: CommandTable<Self> { get }
}

extension LineCommand {
    /// Parses one line (without its newline). Blank lines and `#` comments are not commands:
    /// ``parseLines(_:maxLine:)`` skips them.
    public static func parse(_ line: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> Self {
        try commands.parse(line, maxLine: maxLine)
    }

    /// Parses every line of `text`; all or nothing (the first refused line's reason is the error).
    public static func parseLines(_ text: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> [Self] {
        try commands.parseLines(text, maxLine: maxLine)
    }
}

/// The verbs of one ctl file, and what every ctl file parses alike (Plan 9's `Cmdtab` with
/// `parsecmd` and `lookupcmd`):
///
/// - **Lines.** Text is split at each `\n` byte (as bytes: as characters, `\r\n` is one
///   character that is not `\n`), and spaces, tabs and `\r` are trimmed from both ends, so
///   `\r\n` line ends work too. Empty lines and lines starting with `#` are skipped.
/// - **Words.** A line is split at runs of spaces and tabs; the first word is the verb.
/// - **Refusals**, each a ``ControlError`` (`EINVAL`), checked in this order: `line longer than
///   N bytes`; `empty command`; `unknown command 'VERB'` (the verb cut to 64 characters, and with
///   `listsVerbs` the table's verbs after it in parentheses); `usage: USAGE` when the verb does
///   not take that many words. The entry's builder then checks the words' values.
///
/// Parsing is pure: it knows nothing of sockets.
public struct CommandTable<Command>: Sendable {
    /// One verb: its usage, how many words it takes after the verb, and how they become a command.
    struct Entry: Sendable {
        /// The verb and its arguments as the usage refusal shows them; the verb is its first word.
        let usage: String
        let verb: String
        let arguments: ClosedRange<Int>
        let build: @Sendable (CommandArguments) throws(ControlError) -> Command

        init(_ usage: String, arguments: ClosedRange<Int>, _ build: @escaping @Sendable (CommandArguments) throws(ControlError) -> Command) {
            self.usage = usage
            self.verb = String(usage.prefix { $0 != " " })
            self.arguments = arguments
            self.build = build
        }

        init(_ usage: String, arguments: Int, _ build: @escaping @Sendable (CommandArguments) throws(ControlError) -> Command) {
            self.init(usage, arguments: arguments...arguments, build)
        }

        init(_ usage: String, arguments: PartialRangeFrom<Int>, _ build: @escaping @Sendable (CommandArguments) throws(ControlError) -> Command) {
            self.init(usage, arguments: arguments.lowerBound...Int.max, build)
        }
    }

    let entries: [Entry]
    /// Whether `unknown command` lists the verbs.
    let listsVerbs: Bool

    init(listsVerbs: Bool = false, _ entries: [Entry]) {
        self.entries = entries
        self.listsVerbs = listsVerbs
    }

    /// Parses one line (without its newline).
    func parse(_ line: String, maxLine: Int) throws(ControlError) -> Command {
        guard line.utf8.count <= maxLine else { throw ControlError("line longer than \(maxLine) bytes") }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { throw ControlError("empty command") }
        guard let entry = entries.first(where: { $0.verb == verb }) else {
            let known = listsVerbs ? " (\(entries.map(\.verb).joined(separator: ", ")))" : ""
            throw ControlError("unknown command '\(verb.prefix(64))'\(known)")
        }
        let arguments = CommandArguments(words: Array(words.dropFirst()), usage: entry.usage)
        guard entry.arguments.contains(arguments.count) else { throw arguments.misuse }
        return try entry.build(arguments)
    }

    /// Parses every command line of `text`; all or nothing.
    func parseLines(_ text: String, maxLine: Int) throws(ControlError) -> [Command] {
        var commands: [Command] = []
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(rawLine).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            commands.append(try parse(String(line), maxLine: maxLine))
        }
        return commands
    }
}

/// The words after a verb, with the verb's usage for refusing them.
struct CommandArguments: Sendable {
    let words: [String]
    let usage: String

    var count: Int { words.count }
    var first: String? { words.first }
    subscript(index: Int) -> String { words[index] }

    /// `usage: USAGE`: the refusal for words the verb cannot take.
    var misuse: ControlError { ControlError("usage: \(usage)") }
}

/// Why a ctl line was refused (always `EINVAL`).
public struct ControlError: Error, ErrnoConvertible, Equatable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var errno: Errno { .EINVAL }
    public var description: String { reason }
}

extension Substring {
    /// Without the spaces, tabs and `\r` at either end.
    func trimmingSpaces() -> Substring {
        var s = self
        while let c = s.first, c == " " || c == "\t" || c == "\r" { s = s.dropFirst() }
        while let c = s.last, c == " " || c == "\t" || c == "\r" { s = s.dropLast() }
        return s
    }
}
