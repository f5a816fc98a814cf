/// One line written to `/ai/ctl`, parsed by ``CommandTable`` (pure; every refusal is `EINVAL`,
/// and an unknown verb's refusal lists the verbs).
///
/// | command | effect |
/// | --- | --- |
/// | `create NAME [MODEL]` | like `mkdir /ai/NAME`, optionally with a model |
/// | `snapshot [NAME]` | take a snapshot now (named `manual-TIME` without NAME) |
/// | `restore NAME` | every socket as it was in that snapshot (`ENOENT`) |
/// | `reload` | re-read the configuration |
public enum DaemonCommand: LineCommand, Equatable {
    case create(String, model: String?)
    case snapshot(String?)
    case restore(String)
    case reload

    /// The verbs of `/ai/ctl`, as in the table above.
    public static let commands = CommandTable<DaemonCommand>(listsVerbs: true, [
        .init("create NAME [MODEL]", arguments: 1...2) { .create($0[0], model: $0.count == 2 ? $0[1] : nil) },
        .init("snapshot [NAME]", arguments: 0...1) { (args: CommandArguments) throws(ControlError) in
            if let name = args.first, let problem = SnapshotName.problem(with: name) { throw ControlError("snapshot: \(problem)") }
            return .snapshot(args.first)
        },
        .init("restore NAME", arguments: 1) { (args: CommandArguments) throws(ControlError) in
            if let problem = SnapshotName.problem(with: args[0]) { throw ControlError("restore: \(problem)") }
            return .restore(args[0])
        },
        .init("reload", arguments: 0) { _ in .reload },
    ])
}
