import CFuse3
#if canImport(Glibc)
import Glibc
#endif

/// A FUSE inode number. `1` is the root of the mount.
public typealias Inode = UInt64

/// The kind of a node, as `st_mode`'s type bits.
public enum NodeKind: Sendable {
    case directory, regular

    var modeBits: mode_t { self == .directory ? S_IFDIR : S_IFREG }
}

/// What `getattr`, `lookup` and `mkdir` tell the kernel about a node (a `struct stat`).
public struct FileAttributes: Sendable, Equatable {
    public var inode: Inode
    public var kind: NodeKind
    /// Permission bits only (e.g. `0o644`); the type bits come from `kind`.
    public var permissions: UInt32
    public var linkCount: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    /// Seconds since the epoch.
    public var accessTime: Double
    public var modificationTime: Double
    public var changeTime: Double

    public init(inode: Inode, kind: NodeKind, permissions: UInt32, linkCount: UInt32 = 1,
                uid: UInt32 = 0, gid: UInt32 = 0, size: UInt64 = 0,
                accessTime: Double = 0, modificationTime: Double = 0, changeTime: Double = 0) {
        self.inode = inode
        self.kind = kind
        self.permissions = permissions
        self.linkCount = linkCount
        self.uid = uid
        self.gid = gid
        self.size = size
        self.accessTime = accessTime
        self.modificationTime = modificationTime
        self.changeTime = changeTime
    }

    var stat: stat {
        var st = Glibc.stat()
        st.st_ino = UInt(inode)
        st.st_mode = kind.modeBits | mode_t(permissions & 0o7777)
        st.st_nlink = UInt(linkCount)
        st.st_uid = uid
        st.st_gid = gid
        st.st_size = Int(clamping: size)
        st.st_blksize = 4096
        st.st_blocks = Int((size + 511) / 512)
        st.st_atim = Self.timespec(accessTime)
        st.st_mtim = Self.timespec(modificationTime)
        st.st_ctim = Self.timespec(changeTime)
        return st
    }

    static func timespec(_ seconds: Double) -> Glibc.timespec {
        let whole = seconds.rounded(.down)
        return Glibc.timespec(tv_sec: Int(whole), tv_nsec: Int((seconds - whole) * 1_000_000_000))
    }
}

/// A `lookup`/`mkdir`/`create` answer: the node and how long the kernel may cache it.
public struct Entry: Sendable, Equatable {
    public var attributes: FileAttributes
    /// Seconds the kernel may cache the name → inode mapping.
    public var entryTimeout: Double
    /// Seconds the kernel may cache the attributes.
    public var attributeTimeout: Double

    public init(attributes: FileAttributes, entryTimeout: Double, attributeTimeout: Double) {
        self.attributes = attributes
        self.entryTimeout = entryTimeout
        self.attributeTimeout = attributeTimeout
    }
}

/// How the kernel should treat an open file.
public struct OpenOptions: Sendable, OptionSet {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    /// Bypass the page cache: every `read` reaches the filesystem and its reply length is what
    /// `read()` returns (streams, generated files).
    public static let directIO = OpenOptions(rawValue: 1)
    /// `lseek` fails with `ESPIPE` (streams).
    public static let nonSeekable = OpenOptions(rawValue: 2)
    /// Keep cached pages from earlier opens (immutable files).
    public static let keepCache = OpenOptions(rawValue: 4)
    /// Let the kernel cache directory listings (immutable directories).
    public static let cacheDirectory = OpenOptions(rawValue: 8)
}

/// The flags and handle of an open file, copied out of `fuse_file_info`.
public struct FileInfo: Sendable {
    /// `open(2)` flags (`O_RDONLY`, `O_NONBLOCK`, `O_APPEND`…); on `read`, the current flags.
    public var flags: Int32
    public init(flags: Int32) { self.flags = flags }
    /// True when the file was opened (or is now set) `O_NONBLOCK`.
    public var isNonBlocking: Bool { flags & O_NONBLOCK != 0 }
    public var accessMode: Int32 { flags & O_ACCMODE }
    public var isAppend: Bool { flags & O_APPEND != 0 }
    public var isTruncate: Bool { flags & O_TRUNC != 0 }
}

/// The caller of a request.
public struct RequestContext: Sendable, Equatable {
    public var uid: UInt32
    public var gid: UInt32
    public var pid: Int32
    public var umask: UInt32

    public init(uid: UInt32, gid: UInt32, pid: Int32 = 0, umask: UInt32 = 0o022) {
        self.uid = uid
        self.gid = gid
        self.pid = pid
        self.umask = umask
    }
}

/// A name inside a directory, as the kernel sent it (any bytes but `/` and NUL).
public struct FileName: Sendable, Hashable, CustomStringConvertible {
    public let bytes: [UInt8]
    /// The name as text, or nil when it is not valid UTF-8.
    public let string: String?

    public init(cString: UnsafePointer<CChar>) {
        let count = strlen(cString)
        bytes = cString.withMemoryRebound(to: UInt8.self, capacity: count) {
            Array(UnsafeBufferPointer(start: $0, count: count))
        }
        string = String(validating: bytes, as: UTF8.self)
    }

    public init(_ string: String) {
        self.bytes = Array(string.utf8)
        self.string = string
    }

    /// A name from raw bytes (tests send names that are not UTF-8).
    public init(bytes: [UInt8]) {
        self.bytes = bytes
        string = String(validating: bytes, as: UTF8.self)
    }

    public var description: String { string ?? String(decoding: bytes, as: UTF8.self) }
}

/// Which fields a `setattr` asks to change, with their new values.
public struct SetAttributes: Sendable {
    public var mode: UInt32?
    public var uid: UInt32?
    public var gid: UInt32?
    public var size: UInt64?
    public var accessTime: Double?
    public var modificationTime: Double?

    public init(mode: UInt32? = nil, uid: UInt32? = nil, gid: UInt32? = nil, size: UInt64? = nil,
                accessTime: Double? = nil, modificationTime: Double? = nil) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.accessTime = accessTime
        self.modificationTime = modificationTime
    }
}

/// One `readdir` entry.
public struct DirectoryEntry: Sendable, Equatable {
    public var name: String
    public var inode: Inode
    public var kind: NodeKind
    public init(name: String, inode: Inode, kind: NodeKind) {
        self.name = name
        self.inode = inode
        self.kind = kind
    }
}

/// `statfs` figures.
public struct FilesystemStatistics: Sendable, Equatable {
    public var blockSize: UInt = 4096
    public var files: UInt64 = 0
    public var freeFiles: UInt64 = 0
    public var maxNameLength: UInt = 255
    public init(files: UInt64, freeFiles: UInt64, maxNameLength: UInt) {
        self.files = files
        self.freeFiles = freeFiles
        self.maxNameLength = maxNameLength
    }
}

/// `poll(2)` event bits.
public struct PollEvents: OptionSet, Sendable {
    public let rawValue: UInt32
    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public static let readable = PollEvents(rawValue: UInt32(POLLIN))
    public static let writable = PollEvents(rawValue: UInt32(POLLOUT))
    public static let error = PollEvents(rawValue: UInt32(POLLERR))
    public static let hangup = PollEvents(rawValue: UInt32(POLLHUP))
}
