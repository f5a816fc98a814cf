import ArgumentParser
import Foundation

/// `aifs ask NAME [MESSAGE…]`: one question to socket NAME, the answer streamed to stdout as
/// it arrives. The message is the arguments joined by spaces, or standard input when there are
/// none (`git diff | aifs ask reviewer`). The socket is made if it does not exist.
///
/// It uses only the mount's files: the exchange goes through the socket's `chat` file, so the
/// answer is this call's own even while others use the socket, and it works on every host of
/// a namespace and for every user the permissions allow. Exit status 1 with the reason on
/// stderr when the request fails (the socket's `error` line), 2 for bad usage.
struct AskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ask", abstract: "Ask socket NAME one question; the answer streams to stdout.")

    @Argument(help: "The socket: a name under the mountpoint, or a path to a socket directory.")
    var name: String

    @Argument(help: "The message (default: standard input).")
    var message: [String] = []

    @OptionGroup var mount: MountpointOption

    func run() throws {
        let socket = try ChatExchange.socketPath(name, mountpoint: mount.mountpoint)
        let text: [UInt8]
        if message.isEmpty {
            text = Array(FileHandle.standardInput.readDataToEndOfFile())
        } else {
            text = Array((message.joined(separator: " ") + "\n").utf8)
        }
        guard !text.isEmpty else { throw ValidationError("the message is empty (give it as arguments or on standard input)") }
        let exchange = try ChatExchange(socket: socket)
        do {
            try exchange.send(text)
            try exchange.receive { bytes in FileHandle.standardOutput.write(Data(bytes)) }
        } catch let failure as CLIError {
            FileHandle.standardError.write(Data("aifs ask: \(failure.description)\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// One exchange on a socket's `chat` file: the message written, the reply read as it comes.
/// Shared by `aifs ask` and `aifs chat`.
final class ChatExchange {
    let socket: String
    private let fd: Int32

    /// The socket directory `name` names: a path as given, else `MOUNTPOINT/NAME`; made if
    /// missing (like `mkdir`).
    static func socketPath(_ name: String, mountpoint: String) throws -> String {
        let path = name.contains("/") ? RuntimePaths.absolute(name) : RuntimePaths.absolute(mountpoint) + "/" + name
        var status = stat()
        if stat(path, &status) == 0 {
            guard status.st_mode & S_IFMT == S_IFDIR else { throw CLIError("\(path) is not a socket directory") }
            return path
        }
        guard mkdir(path, 0o755) == 0 || errno == EEXIST else {
            throw CLIError("cannot make socket \(path): \(String(cString: strerror(errno)))")
        }
        return path
    }

    init(socket: String) throws {
        self.socket = socket
        fd = open(socket + "/chat", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw CLIError("\(socket)/chat: \(String(cString: strerror(errno)))") }
    }

    deinit { close(fd) }

    func send(_ message: [UInt8]) throws {
        var offset = 0
        while offset < message.count {
            let n = message[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CLIError("\(socket): sending the message: \(String(cString: strerror(errno)))")
            }
            offset += n
        }
    }

    /// Reads the reply to its end, handing each piece to `body` as it arrives; a signal that
    /// interrupts the read calls `onInterrupt` and reading goes on. A failed request throws
    /// the reason the socket's `error` gives.
    func receive(_ body: ([UInt8]) -> Void, onInterrupt: () -> Void = {}) throws {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n == 0 { return }
            if n > 0 {
                body(Array(buffer[0..<n]))
                continue
            }
            let error = errno
            if error == EINTR {
                onInterrupt()
                continue
            }
            throw CLIError(reason(for: error))
        }
    }

    /// Why the request failed: the last `request` line of the socket's `error`, else the errno.
    private func reason(for error: Int32) -> String {
        let lines = (try? String(contentsOfFile: socket + "/error", encoding: .utf8))?.split(separator: "\n") ?? []
        let name = (socket as NSString).lastPathComponent
        if let line = lines.last(where: { $0.split(separator: " ", maxSplits: 2).dropFirst().first == "request" || $0.contains(" input ") }) {
            return "\(name): " + line.split(separator: " ", maxSplits: 2).dropFirst(2).joined()
        }
        return "\(name): \(String(cString: strerror(error)))"
    }
}
