import ArgumentParser
import CEdit
import Foundation
import Synchronization

/// `aifs chat NAME`: an interactive session with socket NAME. Lines are read with libedit
/// (editing, and history with the arrow keys); each one is a message, its reply streamed as
/// it comes, through the socket's `chat` file (so the exchange is this session's own).
///
/// Ctrl-C while a reply streams cancels that request (`cancel` in the socket's `ctl`); a
/// second Ctrl-C during the same reply, or one at the prompt, leaves, as does Ctrl-D or
/// `/exit`. `/reset`, `/model [M]`, `/prompt [TEXT]` and `/help` act on the socket's files.
/// Only the mount's files are used, so it works on every host of a namespace.
struct ChatCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat", abstract: "Talk to socket NAME interactively (Ctrl-C cancels a reply; /help).")

    @Argument(help: "The socket: a name under the mountpoint, or a path to a socket directory.")
    var name: String

    @OptionGroup var mount: MountpointOption

    static let help = """
        /reset          forget the conversation (reset)
        /model [M]      show the model, or use model M (see /ai/models)
        /prompt [TEXT]  show the system prompt, or set it to TEXT
        /exit           leave (also Ctrl-D, or Ctrl-C at the prompt)
        Ctrl-C while a reply streams cancels it.
        """

    func run() throws {
        let socket = try ChatExchange.socketPath(name, mountpoint: mount.mountpoint)
        let session = ChatSession(socket: socket)
        let label = (socket as NSString).lastPathComponent
        print("aifs chat with \(label) (\(session.model ?? "?")); /help for commands")
        while true {
            Interrupts.atPrompt()
            // A Ctrl-C after the reply's end but before the prompt was counted, not acted on.
            if Interrupts.take() > 0 { Interrupts.leave() }
            guard let raw = readline("\(label)> ") else {
                print("")
                return
            }
            let line = String(cString: raw)
            free(raw)
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { continue }
            add_history(line)
            if trimmed.hasPrefix("/") {
                guard session.command(trimmed) else { return }
                continue
            }
            session.ask(line)
        }
    }
}

/// What a chat session does with a line: a command on the socket's files, or one exchange.
struct ChatSession {
    let socket: String

    var model: String? { controlValue("model") }

    /// Runs a `/command`; false to leave.
    func command(_ line: String) -> Bool {
        let parts = line.split(separator: " ", maxSplits: 1).map(String.init)
        let argument = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
        switch parts[0] {
        case "/exit", "/quit":
            return false
        case "/help":
            print(ChatCommand.help)
        case "/reset":
            write("ctl", "reset\n", done: "[reset: the conversation starts afresh]")
        case "/model":
            if argument.isEmpty { print(model ?? "?") } else { write("ctl", "model \(argument)\n", done: "[model \(argument)]") }
        case "/prompt":
            if argument.isEmpty {
                print((try? String(contentsOfFile: socket + "/prompt", encoding: .utf8)) ?? "", terminator: "")
            } else {
                write("prompt", argument + "\n", done: "[prompt set]")
            }
        default:
            print("unknown command \(parts[0]); /help lists them")
        }
        return true
    }

    /// Sends `line` and streams the reply; Ctrl-C cancels it.
    func ask(_ line: String) {
        do {
            let exchange = try ChatExchange(socket: socket)
            try exchange.send(Array((line + "\n").utf8))
            Interrupts.duringReply()
            var cancelled = false
            var last: UInt8 = 0x0A
            // A Ctrl-C may come while the read is being answered with bytes (no EINTR then):
            // it is counted, and looked at after every read.
            func interrupted() {
                let count = Interrupts.take()
                guard count > 0 else { return }
                if cancelled || count > 1 { Interrupts.leave() }
                cancelled = true
                try? SnapshotFiles.write(socket + "/ctl", "cancel\n", errorFile: nil)
            }
            try exchange.receive({ bytes in
                FileHandle.standardOutput.write(Data(bytes))
                last = bytes.last ?? last
                interrupted()
            }, onInterrupt: interrupted)
            if last != 0x0A { print("") }
            if cancelled { print("[cancelled]") }
        } catch {
            print("[error] \(error)")
        }
    }

    /// The value of `key: value` in the socket's `ctl`.
    private func controlValue(_ key: String) -> String? {
        CtlText((try? String(contentsOfFile: socket + "/ctl", encoding: .utf8)) ?? "")[key]
    }

    /// Writes `text` to one of the socket's files (one open, write and close), then prints
    /// `done`, or why the socket refused (its `error` line).
    private func write(_ file: String, _ text: String, done: String) {
        do {
            try SnapshotFiles.write(socket + "/" + file, text, errorFile: socket + "/error")
            print(done)
        } catch {
            print("[refused] \(error)")
        }
    }
}

/// Ctrl-Cs that came while a reply streamed.
private let pendingInterrupts = Atomic<Int>(0)

/// Ctrl-C: at the prompt it ends the program (the default); while a reply streams it only
/// interrupts the blocked read (`EINTR`), for the session to cancel the request.
enum Interrupts {
    static func atPrompt() { signal(SIGINT, SIG_DFL) }

    /// How many Ctrl-Cs came since the last call.
    static func take() -> Int { pendingInterrupts.exchange(0, ordering: .relaxed) }

    static func duringReply() {
        _ = take()
        var action = sigaction()
        // Counted (an atomic add is safe in a handler); no SA_RESTART: a blocked read returns EINTR.
        action.__sigaction_handler.sa_handler = { _ in pendingInterrupts.add(1, ordering: .relaxed) }
        sigemptyset(&action.sa_mask)
        action.sa_flags = 0
        sigaction(SIGINT, &action, nil)
    }

    static func leave() -> Never {
        print("")
        exit(130)
    }
}
