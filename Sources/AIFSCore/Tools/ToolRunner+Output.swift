import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A tool's standard output and standard error, merged in the order the chunks arrived: the
/// first `limit` bytes kept, every byte counted. The first line of standard output is the
/// trampoline's status line (see `ToolRunner.trampoline`): it is taken off, never counted, and
/// tells whether the program was started at all.
final class OutputCollector: Sendable {
    private struct Fields {
        var kept: [UInt8] = []
        var total = 0
        /// Standard output until the status line is complete.
        var statusLine: [UInt8] = []
        var statusRead = false
        /// Standard error that came before the status line was read (it may only be the
        /// program's, once the status said ok, but the two pipes are read independently).
        var earlyError: [UInt8] = []
    }
    private let fields = Mutex(Fields())
    private let limit: Int

    init(limit: Int) { self.limit = max(0, limit) }

    /// Adds a chunk read from standard output or standard error.
    func add(_ bytes: [UInt8], fromStandardOutput: Bool) {
        fields.withLock { fields in
            guard fromStandardOutput else {
                if fields.statusRead { append(bytes, to: &fields) } else { fields.earlyError += bytes }
                return
            }
            if fields.statusRead { append(bytes, to: &fields); return }
            fields.statusLine += bytes
            guard let newline = fields.statusLine.firstIndex(of: 0x0A) else { return }
            let rest = Array(fields.statusLine[(newline + 1)...])
            fields.statusLine.removeSubrange(newline...)
            fields.statusRead = true
            let early = fields.earlyError
            fields.earlyError = []
            append(early, to: &fields)
            append(rest, to: &fields)
        }
    }

    private func append(_ bytes: [UInt8], to fields: inout Fields) {
        guard !bytes.isEmpty else { return }
        fields.total += bytes.count
        let room = limit - fields.kept.count
        if room > 0 { fields.kept += bytes.prefix(room) }
    }

    /// Why the trampoline did not start the program, if it did not (nil once it did, or when no
    /// status line came at all: then the shell died early, e.g. killed at the timeout).
    var trampolineFailure: TrampolineFailure? {
        fields.withLock { fields in
            guard fields.statusRead else { return nil }
            return TrampolineFailure(statusLine: String(decoding: fields.statusLine, as: UTF8.self))
        }
    }

    /// The output kept and the total byte count.
    var result: ([UInt8], Int) {
        fields.withLock { fields in
            if fields.statusRead { return (fields.kept, fields.total) }
            // No status line: whatever arrived is all there is (the shell was killed early).
            var copy = fields
            let stray = copy.statusLine + copy.earlyError
            copy.statusLine = []
            append(stray, to: &copy)
            return (copy.kept, copy.total)
        }
    }
}

/// What the trampoline reported instead of `ok`: the working directory could not be entered,
/// or the program was not found, is a directory, or may not be executed — all as the user.
enum TrampolineFailure: Equatable {
    case workdir
    case program(Int32)

    init?(statusLine: String) {
        switch statusLine {
        case "aifs-tool: ok": return nil
        case "aifs-tool: cd": self = .workdir
        case "aifs-tool: isdir": self = .program(EISDIR)
        case "aifs-tool: acces": self = .program(EACCES)
        default: self = .program(ENOENT)
        }
    }

    /// The one-line, user-facing reason.
    func message(program: String, workdir: String) -> String {
        switch self {
        case .workdir:
            // The daemon saw a directory (checkDirectory), so the user may not enter it.
            "working directory \(workdir): \(String(cString: strerror(EACCES)))"
        case .program(let code):
            "cannot run '\(program)': \(String(cString: strerror(code)))"
        }
    }
}
