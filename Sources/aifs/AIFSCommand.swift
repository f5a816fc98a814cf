import ArgumentParser
import Foundation

/// `aifs`: mount AI models as files.
@main
struct AIFSCommand: AsyncParsableCommand {
    static let version = "0.1.0"
    static let configuration = CommandConfiguration(
        commandName: "aifs",
        abstract: "A FUSE filesystem that exposes AI models as files.",
        discussion: """
            mkdir /ai/apollo makes an AI socket; echo q > /ai/apollo/input asks it; \
            cat /ai/apollo/output streams the answer.
            """,
        version: version,
        subcommands: [MountCommand.self, UnmountCommand.self, StatusCommand.self, TopCommand.self, DoctorCommand.self,
                      SnapshotCommand.self, SnapshotsCommand.self, RestoreCommand.self, AskCommand.self, ChatCommand.self,
                      PendingCommand.self, ApproveCommand.self, DenyCommand.self, UndoCommand.self]
    )

    /// The entry point: a mount helper call (`mount -t fuse.aifs`, see ``MountHelper``) becomes
    /// `aifs mount …`; anything else is parsed as usual.
    static func main() async {
        let arguments: [String]?
        do {
            arguments = try MountHelper.translate(CommandLine.arguments)
        } catch {
            FileHandle.standardError.write(Data("aifs: \(error)\n".utf8))
            Foundation.exit(1)
        }
        if arguments != nil, ProcessInfo.processInfo.environment["PATH"] == nil {
            setenv("PATH", MountHelper.defaultPath, 1)
        }
        await main(arguments)
    }
}

/// A failure at run time (not a usage mistake): printed as `Error: …` without the usage text.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
