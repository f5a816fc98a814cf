import ArgumentParser
import Foundation

/// `aifs top [-m MOUNTPOINT] [--interval SECONDS] [--sort KEY] [--once]`: a live view of the
/// mount's sockets (state, queued, in flight, output tokens per second, last latency, errors)
/// and the daemon's totals, refreshed every interval; `q` (or Ctrl-C) quits, `s` changes the
/// sort. It reads only the mount's files (``TopSample``), so it works on every host of a
/// namespace, for every user, and over ssh (``TopTerminal``: ANSI escapes and termios).
///
/// With standard output not a terminal it prints a plain frame every interval, a blank line
/// between frames, until a signal ends it (like `top -b`); `--once` prints one frame, its rates
/// measured over one interval, and exits.
struct TopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "top", abstract: "A live view of the sockets: state, queue, tokens/s, latency, errors (q quits).")

    @OptionGroup var mount: MountpointOption

    @Option(help: ArgumentHelp("Seconds between refreshes (more than 0, at most 3600).", valueName: "SECONDS"))
    var interval: Double = 1

    @Option(help: "Sort the sockets by: rate (output tokens/s), tokens, name, latency, errors, queued.")
    var sort: TopSort = .rate

    @Flag(help: "Print one frame (rates over one interval) without terminal control, and exit.")
    var once = false

    func validate() throws {
        guard interval > 0, interval <= 3600 else { throw ValidationError("--interval must be more than 0 and at most 3600 seconds") }
    }

    func run() throws {
        let path = RuntimePaths.absolute(mount.mountpoint)
        if MountTable.isStale(path) { throw CLIError("\(path): stale mount (daemon gone); run 'aifs mount \(path)' to clear it") }
        guard MountTable.isAIFS(path) else { throw CLIError("aifs is not mounted at \(path)") }
        let tty = isatty(STDOUT_FILENO) == 1
        var view = TopView(mountpoint: path, interval: interval, sort: sort, interactive: tty && !once)
        if once { return try printOnce(path, view: view, tty: tty) }
        if !tty { return try batch(path, view: view) }
        try interactive(path, view: &view)
    }

    /// One frame: two readings `interval` apart, so the rates are measured.
    private func printOnce(_ path: String, view: TopView, tty: Bool) throws {
        let first = try TopSample.read(path)
        usleep(useconds_t(interval * 1_000_000))
        let second = try TopSample.read(path)
        let size = tty ? (TopTerminal.size().columns, Int.max) : (Int.max, Int.max)
        print(view.frame(second, previous: first, size: size, clock: Self.clock()).joined(separator: "\n"))
    }

    /// Standard output is not a terminal: a plain frame every interval until a signal.
    private func batch(_ path: String, view: TopView) throws {
        let terminal = try TopTerminal(interactive: false)
        defer { terminal.restore() }
        var previous: TopSample?
        var current = try TopSample.read(path)
        var next = current.time + interval
        while true {
            let text = view.frame(current, previous: previous, size: (Int.max, Int.max), clock: Self.clock()).joined(separator: "\n")
            guard TopTerminal.emit((previous == nil ? "" : "\n") + text + "\n") else { return }
            while TopSample.now() < next {
                for case .signal(let number) in terminal.wait(seconds: next - TopSample.now(), keys: false) where number != SIGWINCH {
                    return
                }
            }
            next = max(next + interval, TopSample.now())
            previous = current
            current = try TopSample.read(path)
        }
    }

    /// The live view on the alternate screen, until `q`, Ctrl-C or a signal; the terminal is
    /// restored however it ends (an error included: the message then shows on the normal screen).
    private func interactive(_ path: String, view: inout TopView) throws {
        let terminal = try TopTerminal(interactive: true)
        defer { terminal.restore() }
        let keys = isatty(STDIN_FILENO) == 1
        var previous: TopSample?
        var current = try TopSample.read(path)
        var next = current.time + interval
        while true {
            TopTerminal.draw(view.frame(current, previous: previous, size: TopTerminal.size(), clock: Self.clock()))
            var redraw = false
            while !redraw {
                let left = next - TopSample.now()
                if left <= 0 {
                    next = max(next + interval, TopSample.now())
                    previous = current
                    current = try TopSample.read(path)
                    break
                }
                for event in terminal.wait(seconds: left, keys: keys) {
                    switch event {
                    case .key(let key) where key == UInt8(ascii: "q") || key == UInt8(ascii: "Q") || key == 3 || key == 4:
                        return  // q, Ctrl-C, Ctrl-D
                    case .key(let key) where key == UInt8(ascii: "s"):
                        view.sort = view.sort.next
                        redraw = true
                    case .signal(SIGWINCH):
                        redraw = true
                    case .signal:
                        return  // SIGINT, SIGTERM, SIGHUP
                    case .key, .timeout:
                        break
                    }
                }
            }
        }
    }

    /// The wall clock, local time, to the second.
    static func clock() -> String {
        let formatter = DateFormatter()
        formatter.dateFormat = "HH:mm:ss"
        return formatter.string(from: Date())
    }
}

extension TopSort: ExpressibleByArgument {}
