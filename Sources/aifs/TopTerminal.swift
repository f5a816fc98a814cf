import Foundation
import Synchronization

/// The write end of ``TopTerminal``'s signal pipe: a signal handler may only write to a
/// descriptor, so it writes the signal's number here and the loop reads it.
private let signalPipeWrite = Atomic<Int32>(-1)

/// The terminal as `aifs top` uses it: the alternate screen, the cursor hidden, and (when
/// standard input is a terminal) raw keys: no echo, no line editing, no signals from the keyboard
/// (Ctrl-C arrives as a key and quits like `q`). Only plain ANSI escapes and termios, so it
/// works over ssh and in tmux.
///
/// SIGINT, SIGTERM, SIGHUP and SIGWINCH are turned into bytes on a pipe (``signals``) that the
/// loop polls with the keys; ``restore()`` puts the terminal back as it was (called on `q`,
/// Ctrl-C, a signal and an error alike) and is safe to call twice.
final class TopTerminal {
    /// Read end of the signal pipe: one byte per signal, its number.
    let signals: Int32
    private let writeEnd: Int32
    private var saved: termios?
    private var restored = false
    static let handled: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGWINCH]

    init(interactive: Bool) throws {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CLIError("top: pipe: \(String(cString: strerror(errno)))") }
        for fd in fds {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        signals = fds[0]
        writeEnd = fds[1]
        signalPipeWrite.store(writeEnd, ordering: .relaxed)
        for signal in Self.handled {
            var action = sigaction()
            action.__sigaction_handler.sa_handler = { number in
                var byte = UInt8(truncatingIfNeeded: number)
                _ = Glibc.write(signalPipeWrite.load(ordering: .relaxed), &byte, 1)
            }
            sigemptyset(&action.sa_mask)
            action.sa_flags = SA_RESTART
            sigaction(signal, &action, nil)
        }
        guard interactive else { return }
        if isatty(STDIN_FILENO) == 1 {
            var mode = termios()
            if tcgetattr(STDIN_FILENO, &mode) == 0 {
                saved = mode
                mode.c_lflag &= ~tcflag_t(ICANON | ECHO | ISIG | IEXTEN)
                mode.c_iflag &= ~tcflag_t(IXON | ICRNL)
                withUnsafeMutableBytes(of: &mode.c_cc) { cc in
                    cc[Int(VMIN)] = 1
                    cc[Int(VTIME)] = 0
                }
                tcsetattr(STDIN_FILENO, TCSAFLUSH, &mode)
            }
        }
        // The alternate screen (the shell's screen comes back on exit), cursor hidden.
        Self.emit("\u{1B}[?1049h\u{1B}[?25l\u{1B}[H\u{1B}[2J")
    }

    /// Puts the terminal back: the screen, the cursor, the input mode, the signals' defaults.
    func restore() {
        guard !restored else { return }
        restored = true
        if saved != nil || isatty(STDOUT_FILENO) == 1 { Self.emit("\u{1B}[?25h\u{1B}[?1049l") }
        if var mode = saved { tcsetattr(STDIN_FILENO, TCSAFLUSH, &mode) }
        for signal in Self.handled { Foundation.signal(signal, SIG_DFL) }
        signalPipeWrite.store(-1, ordering: .relaxed)
        close(signals)
        close(writeEnd)
    }

    deinit { restore() }

    /// Columns and rows of the terminal on standard output (80×24 when it does not say).
    static func size() -> (columns: Int, rows: Int) {
        var size = winsize()
        guard ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0, size.ws_row > 0 else { return (80, 24) }
        return (Int(size.ws_col), Int(size.ws_row))
    }

    /// Draws a frame: from the top left, each line cleared to its end, the rest of the screen cleared.
    static func draw(_ lines: [String]) {
        var out = "\u{1B}[H"
        for (index, line) in lines.enumerated() {
            out += line + "\u{1B}[K"
            if index < lines.count - 1 { out += "\r\n" }
        }
        out += "\u{1B}[J"
        emit(out)
    }

    /// Writes all of `text` to standard output; false if it cannot (a closed pipe).
    @discardableResult
    static func emit(_ text: String) -> Bool {
        var bytes = Array(text.utf8)[...]
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Foundation.write(STDOUT_FILENO, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return false }
            bytes = bytes.dropFirst(written)
        }
        return true
    }

    /// What woke the loop.
    enum Event {
        case key(UInt8)
        case signal(Int32)
        case timeout
    }

    /// Waits up to `seconds` for a key on standard input (when `keys`) or a signal.
    func wait(seconds: Double, keys: Bool) -> [Event] {
        var fds = [pollfd(fd: signals, events: Int16(POLLIN), revents: 0)]
        if keys { fds.append(pollfd(fd: STDIN_FILENO, events: Int16(POLLIN), revents: 0)) }
        let ready = poll(&fds, nfds_t(fds.count), Int32(max(0, min(seconds, 3600)) * 1000))
        guard ready > 0 else { return [.timeout] }
        var events: [Event] = []
        var buffer = [UInt8](repeating: 0, count: 64)
        if fds[0].revents & Int16(POLLIN) != 0 {
            let count = read(signals, &buffer, buffer.count)
            if count > 0 { events += buffer[..<count].map { .signal(Int32($0)) } }
        }
        if keys, fds[1].revents != 0 {
            let count = read(STDIN_FILENO, &buffer, buffer.count)
            if count > 0 {
                events += buffer[..<count].map { .key($0) }
            } else if count == 0 || (fds[1].revents & Int16(POLLHUP | POLLERR | POLLNVAL)) != 0 {
                events.append(.signal(SIGHUP))  // the terminal went away
            }
        }
        return events.isEmpty ? [.timeout] : events
    }
}
