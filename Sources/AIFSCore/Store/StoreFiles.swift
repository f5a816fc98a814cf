import Foundation

/// The device and inode of each file an open store uses, to notice one deleted or replaced.
struct StoreFiles {
    struct Identity: Equatable {
        var device: UInt64
        var inode: UInt64
    }
    enum Change: Equatable {
        /// These files are gone (or, for the log, shared memory and lock, are other files now).
        case deleted([String])
        /// The database path holds another file.
        case replaced
    }
    static let suffixes = ["", "-wal", "-shm", ".lock"]
    let path: String
    /// By suffix; a file that did not exist yet is adopted when it appears.
    private(set) var known: [String: Identity] = [:]

    init(path: String) {
        self.path = path
        for suffix in Self.suffixes { known[suffix] = Self.identity(path + suffix) }
    }

    static func identity(_ path: String) -> Identity? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Identity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// What changed since the files were opened; nil if nothing did.
    mutating func check() -> Change? {
        var deleted: [String] = []
        for suffix in Self.suffixes {
            let now = Self.identity(path + suffix)
            guard let was = known[suffix] else {
                known[suffix] = now
                continue
            }
            if now == was { continue }
            if suffix == "", now != nil { return .replaced }
            deleted.append(path + suffix)
        }
        return deleted.isEmpty ? nil : .deleted(deleted)
    }

    /// The database, its log and its shared memory are the files that were opened.
    var databaseInPlace: Bool {
        ["", "-wal", "-shm"].allSatisfy { suffix in known[suffix].map { Self.identity(path + suffix) == $0 } ?? true }
    }
}
