import Foundation
import GRDB

/// Moves the write-ahead log into the database file from a thread and a connection of its own,
/// so that no commit pays for a checkpoint (and its fsync). Every second it runs a PASSIVE
/// checkpoint, which never blocks the writer; when the log file has grown past twice
/// ``walSizeLimit`` it asks for a TRUNCATE checkpoint (which waits up to its busy timeout for
/// readers, and empties the file). While commits follow each other without a pause it cannot
/// catch up with the last frame, so the writer also checkpoints between commits once the log is
/// long (``WriterStatements/checkpointIfLong()``), which lets the log start over; every
/// connection's `journal_size_limit` then cuts the file back to ``walSizeLimit``.
final class Checkpointer: @unchecked Sendable {
    private let queue: DatabaseQueue?
    private let stopped = DispatchSemaphore(value: 0)
    private let wake = NSCondition()
    private var stopping = false
    private let walPath: String
    /// The size the write-ahead log's file is cut back to when it starts over (4 MiB: about
    /// the 1,000 frames after which the writer checkpoints).
    static let walSizeLimit = 4 << 20

    init(path: String) {
        walPath = path + "-wal"
        var configuration = GRDB.Configuration()
        configuration.label = "aifs.store.checkpointer"
        configuration.busyMode = .timeout(1)
        queue = try? DatabaseQueue(path: path, configuration: configuration)
        let thread = Thread { [self] in run() }
        thread.name = "aifs.store.checkpointer"
        thread.start()
    }

    private func run() {
        defer { stopped.signal() }
        while true {
            wake.lock()
            if !stopping { _ = wake.wait(until: Date(timeIntervalSinceNow: 1)) }
            let done = stopping
            wake.unlock()
            if done { return }
            let size = (try? FileManager.default.attributesOfItem(atPath: walPath)[.size] as? Int) ?? 0
            guard size > 0 else { continue }
            let kind: Database.CheckpointMode = size > 2 * Self.walSizeLimit ? .truncate : .passive
            try? queue?.writeWithoutTransaction { db in _ = try db.checkpoint(kind) }
        }
    }

    func stop() {
        wake.lock()
        stopping = true
        wake.signal()
        wake.unlock()
        stopped.wait()
        try? queue?.close()
    }
}
