import Foundation
import Glibc

/// The files around a store's database: the lock that keeps it to one daemon, and its
/// directory's permissions.
extension SQLiteStore {
    /// One daemon per store: an exclusive `flock` on `PATH.lock`, held while the store is open.
    static func lockExclusively(_ path: String, attempts: Int = 50) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StoreError("cannot open \(path): \(String(cString: strerror(errno)))") }
        // A daemon that was just unmounted may still be writing its last batch: wait up to 5 s.
        for _ in 0..<attempts {
            if flock(fd, LOCK_EX | LOCK_NB) == 0 { return fd }
            usleep(100_000)
        }
        Glibc.close(fd)
        throw StoreError("the store \(path.dropLast(5)) is in use by another aifs daemon")
    }

    /// Creates the directory `0700` if missing; tightens an existing one that we own to `0700`,
    /// unless it is a shared sticky directory such as `/tmp` (a store put there directly must
    /// not close it to everyone else).
    static func prepareDirectory(_ directory: String) throws {
        var st = stat()
        if stat(directory, &st) != 0 {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw StoreError("cannot create the store directory \(directory): \(error.localizedDescription)")
            }
        } else if st.st_uid == getuid(), st.st_mode & 0o077 != 0, st.st_mode & S_ISVTX == 0 {
            chmod(directory, 0o700)
        }
    }
}
