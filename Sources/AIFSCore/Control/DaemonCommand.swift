/// One line written to `/ai/ctl`.
///
/// | command | effect |
/// | --- | --- |
/// | `create NAME [MODEL]` | like `mkdir /ai/NAME`, optionally with a model |
/// | `snapshot [NAME]` | take a snapshot now (named `manual-TIME` without NAME) |
/// | `restore NAME` | every socket as it was in that snapshot (`ENOENT`) |
/// | `reload` | re-read the configuration |
public enum DaemonCommand: Equatable, Sendable {
    case create(String, model: String?)
    case snapshot(String?)
    case restore(String)
    case reload

    public static func parse(_ line: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> DaemonCommand {
        guard line.utf8.count <= maxLine else { throw ControlError("line longer than \(maxLine) bytes") }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let verb = words.first else { throw ControlError("empty command") }
        let args = Array(words.dropFirst())
        switch verb {
        case "create":
            guard args.count == 1 || args.count == 2 else { throw ControlError("usage: create NAME [MODEL]") }
            return .create(args[0], model: args.count == 2 ? args[1] : nil)
        case "snapshot":
            guard args.count <= 1 else { throw ControlError("usage: snapshot [NAME]") }
            if let name = args.first, let problem = SnapshotName.problem(with: name) { throw ControlError("snapshot: \(problem)") }
            return .snapshot(args.first)
        case "restore":
            guard args.count == 1 else { throw ControlError("usage: restore NAME") }
            if let problem = SnapshotName.problem(with: args[0]) { throw ControlError("restore: \(problem)") }
            return .restore(args[0])
        case "reload":
            guard args.isEmpty else { throw ControlError("usage: reload") }
            return .reload
        default:
            throw ControlError("unknown command '\(verb.prefix(64))' (create, snapshot, restore, reload)")
        }
    }

    public static func parseLines(_ text: String, maxLine: Int = ControlCommand.maxLineLength) throws(ControlError) -> [DaemonCommand] {
        var commands: [DaemonCommand] = []
        for rawLine in text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            let line = Substring(rawLine).trimmingSpaces()
            if line.isEmpty || line.hasPrefix("#") { continue }
            commands.append(try parse(String(line), maxLine: maxLine))
        }
        return commands
    }
}
