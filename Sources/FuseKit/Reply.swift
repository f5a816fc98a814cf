/// The answer a ``Request`` gave, as an ``InProcessSession`` records it: one case per reply
/// method, holding what that method was given (a directory listing as the entries that fit,
/// each with its cookie).
///
/// `forget`'s empty answer is `.noReply`, not `.none`: a `Reply?` compared with `.none` would
/// silently mean `Optional.none`.
public enum Reply: Sendable, Equatable, CustomStringConvertible {
    /// ``Request/reply(error:)``.
    case error(Errno)
    /// ``Request/replyOK()``.
    case ok
    /// ``Request/replyNone()``.
    case noReply
    /// ``Request/reply(entry:)``.
    case entry(Entry)
    /// ``Request/reply(attributes:timeout:)``.
    case attributes(FileAttributes, timeout: Double)
    /// ``Request/reply(open:options:)``.
    case open(handle: OpenHandle?, options: OpenOptions)
    /// ``Request/reply(create:handle:options:)``.
    case create(Entry, handle: OpenHandle?, options: OpenOptions)
    /// ``Request/reply(written:)``.
    case written(Int)
    /// ``Request/reply(bytes:)``; empty is end of file.
    case data([UInt8])
    /// ``Request/reply(directory:offset:maxSize:)``: the entries that fitted.
    case directory([ListedEntry])
    /// ``Request/reply(directoryPlus:offset:maxSize:)``: the entries that fitted.
    case directoryPlus([ListedEntry])
    /// ``Request/reply(poll:)``.
    case poll(PollEvents)
    /// ``Request/reply(statistics:)``.
    case statistics(FilesystemStatistics)
    /// ``Request/reply(xattrSize:)``.
    case xattrSize(Int)

    /// The error, nil for any other answer.
    public var errno: Errno? {
        if case .error(let errno) = self { return errno }
        return nil
    }

    /// The node of an `.entry` or `.create` answer.
    public var entry: Entry? {
        switch self {
        case .entry(let entry), .create(let entry, _, _): return entry
        default: return nil
        }
    }

    /// The attributes of an `.attributes`, `.entry` or `.create` answer.
    public var attributes: FileAttributes? {
        if case .attributes(let attributes, _) = self { return attributes }
        return entry?.attributes
    }

    /// The bytes of a `.data` answer.
    public var bytes: [UInt8]? {
        if case .data(let bytes) = self { return bytes }
        return nil
    }

    /// The bytes of a `.data` answer as UTF-8 text.
    public var text: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    /// The count of a `.written` answer.
    public var written: Int? {
        if case .written(let count) = self { return count }
        return nil
    }

    /// The entries of a `.directory` or `.directoryPlus` answer.
    public var listing: [ListedEntry]? {
        switch self {
        case .directory(let entries), .directoryPlus(let entries): return entries
        default: return nil
        }
    }

    /// The readiness of a `.poll` answer.
    public var pollEvents: PollEvents? {
        if case .poll(let events) = self { return events }
        return nil
    }

    public var description: String {
        switch self {
        case .error(let errno): return "error(\(errno.rawValue): \(errno))"
        case .ok: return "ok"
        case .noReply: return "noReply"
        case .entry(let entry): return "entry(inode \(entry.attributes.inode), \(entry.attributes.kind))"
        case .attributes(let attributes, let timeout):
            return "attributes(inode \(attributes.inode), size \(attributes.size), mode \(String(attributes.permissions, radix: 8)), timeout \(timeout))"
        case .open(let handle, let options): return "open(handle: \(handle.map { "\(type(of: $0.object))" } ?? "nil"), options: \(options.rawValue))"
        case .create(let entry, let handle, _):
            return "create(inode \(entry.attributes.inode), handle: \(handle.map { "\(type(of: $0.object))" } ?? "nil"))"
        case .written(let count): return "written(\(count))"
        case .data(let bytes):
            let text = String(decoding: bytes.prefix(200), as: UTF8.self)
            return "data(\(bytes.count) bytes: \(text.debugDescription)\(bytes.count > 200 ? "…" : ""))"
        case .directory(let entries): return "directory(\(entries.map(\.name)))"
        case .directoryPlus(let entries): return "directoryPlus(\(entries.map(\.name)))"
        case .poll(let events): return "poll(\(events.rawValue))"
        case .statistics(let statistics): return "statistics(files \(statistics.files), free \(statistics.freeFiles))"
        case .xattrSize(let size): return "xattrSize(\(size))"
        }
    }
}

/// The object a filesystem gave with `reply(open:)`/`reply(create:)`, as a ``Reply`` carries
/// it: equal when it is the same object.
public struct OpenHandle: @unchecked Sendable, Equatable {
    public let object: AnyObject

    public init(_ object: AnyObject) { self.object = object }

    public static func == (lhs: OpenHandle, rhs: OpenHandle) -> Bool { lhs.object === rhs.object }
}

/// One entry of a directory answer, as the kernel would read it back.
public struct ListedEntry: Sendable, Equatable {
    public var name: String
    public var inode: Inode
    public var kind: NodeKind
    /// The offset to pass to the next `readdir` to continue after this entry.
    public var cookie: Int64
    /// `readdirplus` only: the node and its cache times, nil when the entry had name and type
    /// only.
    public var attributes: Entry?

    public init(name: String, inode: Inode, kind: NodeKind, cookie: Int64, attributes: Entry? = nil) {
        self.name = name
        self.inode = inode
        self.kind = kind
        self.cookie = cookie
        self.attributes = attributes
    }

    init(_ entry: DirectoryEntry, cookie: Int64, attributes: Entry? = nil) {
        self.init(name: entry.name, inode: entry.inode, kind: entry.kind, cookie: cookie, attributes: attributes)
    }
}
