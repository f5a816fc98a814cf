import Foundation

/// What `aifs mount` shows while it waits for a new mount to answer: nothing for the first
/// second, then one line on standard error rewritten in place, "aifs: waiting for the mount at
/// /ai to answer (3 s)", cleared once the wait is over. Only when standard error is a terminal:
/// scripts and logs never see it.
struct WaitProgress {
    let label: String
    private let enabled = isatty(STDERR_FILENO) == 1
    private var shownSeconds = 0

    init(label: String) { self.label = label }

    /// Called in the wait loop with the time waited so far; redraws once a second.
    mutating func update(waited: TimeInterval) {
        guard enabled, waited >= 1, Int(waited) > shownSeconds else { return }
        shownSeconds = Int(waited)
        FileHandle.standardError.write(Data("\r\u{1B}[K\(label) (\(shownSeconds) s)".utf8))
    }

    /// Erases the line, if one was drawn.
    func finish() {
        guard shownSeconds > 0 else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
