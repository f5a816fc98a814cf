import Foundation
import FuseKit
import GRDB
import Logging

// MARK: Files deleted or replaced under the daemon

/// Noticing the store's files deleted or replaced under the daemon, and writing the open
/// database back to the path. Writer thread only.
extension SQLiteStore {
    /// Nil when the store's files are the ones it opened (or were just written again); else
    /// the errno to refuse writes with. Writer thread only.
    func filesInPlace() -> Errno? {
        if replaced { return .EIO }
        if directoryWatch.isQuiet() { return nil }
        switch files.check() {
        case nil:
            directoryWatch.checkedClean()
            return nil
        case .replaced:
            replaced = true
            let saved = options.path + ".saved-" + WallClock.iso8601(WallClock.now())
            var note = "a copy of this daemon's database is at \(saved)"
            do {
                try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [saved]) }
                chmod(saved, 0o600)
            } catch {
                note = "no copy of this daemon's database could be saved (\(error))"
            }
            let message = "the store file \(options.path) was replaced by another file under the daemon; \(note); "
                + "every write is refused (EIO) until aifs is mounted again, which uses the new file"
            logger.error("\(message)")
            return .EIO
        case .deleted(let names):
            guard Date() >= nextRecovery else { return .EIO }
            do {
                try writeFilesAgain()
                let message = "store files deleted under the daemon (\(names.joined(separator: ", "))): "
                    + "the open database was written again to \(options.path); nothing was lost"
                logger.warning("\(message)")
                return nil
            } catch {
                nextRecovery = Date().addingTimeInterval(5)
                let message = "store files deleted under the daemon (\(names.joined(separator: ", "))) and they cannot "
                    + "be written again: \(error); writes are refused until they can (tried every 5 s)"
                logger.error("\(message)")
                return Self.failure(for: error)
            }
        }
    }

    /// Writes a complete copy of the open database back to the path and goes on with it.
    private func writeFilesAgain() throws {
        let path = options.path
        try Self.prepareDirectory((path as NSString).deletingLastPathComponent)
        // Files 0600 by chmod (the directory is 0700), not by the process's umask, which the
        // tools and agents spawned meanwhile would inherit.
        // The lock first: if another daemon holds the path's lock now, the path is its store.
        if StoreFiles.identity(path + ".lock") != files.known[".lock"] {
            let fd = try Self.lockExclusively(path + ".lock", attempts: 1)
            Glibc.close(lockFD)
            lockFD = fd
        }
        if files.databaseInPlace {
            files = StoreFiles(path: path)
            return
        }
        let copy = path + ".recovering"
        unlink(copy)
        do {
            try pool.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copy]) }
        } catch {
            unlink(copy)
            throw error
        }
        chmod(copy, 0o600)
        // What is left of the old files at the path would be taken for the copy's log.
        unlink(path + "-wal")
        unlink(path + "-shm")
        guard rename(copy, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(copy)
            throw StoreError("cannot rename \(copy) to \(path): \(reason)")
        }
        let fresh = try DatabasePool(path: path, configuration: configuration)
        try StoreSchema.migrator.migrate(fresh)
        pool.writeWithoutTransaction { _ in statements?.finalize() }  // they belong to the old connection
        statements = nil
        for suffix in ["", "-wal", "-shm"] { chmod(path + suffix, 0o600) }
        let old = current.withLock { pool -> DatabasePool in
            defer { pool = fresh }
            return pool
        }
        retired.append(old)
        let oldCheckpointer = checkpointer
        checkpointer = Checkpointer(path: path)
        oldCheckpointer.stop()
        files = StoreFiles(path: path)
    }
}
