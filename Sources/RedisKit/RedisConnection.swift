import CHiredis
import Foundation

/// A reply from Redis, as RESP types it.
public enum RedisValue: Equatable, Sendable {
    case bulk([UInt8])
    case status(String)
    case integer(Int64)
    case array([RedisValue])
    case null
    /// An error reply (`-ERR …`, `-NOGROUP …`, `-BUSYGROUP …`).
    case error(String)

    /// The bytes of a bulk or status reply.
    public var bytes: [UInt8]? {
        switch self {
        case .bulk(let b): return b
        case .status(let s): return Array(s.utf8)
        default: return nil
        }
    }

    public var string: String? { bytes.map { String(decoding: $0, as: UTF8.self) } }

    public var int: Int64? {
        switch self {
        case .integer(let v): return v
        case .bulk, .status: return string.flatMap { Int64($0) }
        default: return nil
        }
    }

    public var array: [RedisValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    public var isNull: Bool { self == .null }
}

/// Why a Redis call failed: the connection (down, timed out, closed) or an error reply.
public struct RedisError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable { case connection, reply }
    public let kind: Kind
    public let message: String
    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }
    public var description: String { message }
}

/// One blocking connection to Redis over hiredis.
///
/// Every call blocks the calling thread until Redis answers or the timeout passes, so use it
/// only from dedicated threads, never from the FUSE loop or Swift's cooperative pool. Not
/// thread-safe: one connection per thread (or behind a lock, see ``RedisPool``). After a
/// connection error the connection is closed; the next call reconnects.
public final class RedisConnection: @unchecked Sendable {
    public let host: String
    public let port: Int32
    public let database: Int
    /// Seconds to wait for a connection or a reply (a blocking `XREAD` passes its own, longer one).
    public var timeout: Double
    private var context: UnsafeMutablePointer<redisContext>?

    public init(host: String, port: Int32, database: Int = 0, timeout: Double = 2) {
        self.host = host
        self.port = port
        self.database = database
        self.timeout = timeout
    }

    /// A connection for a `redis://HOST:PORT/DB` URL.
    public convenience init(url: String, timeout: Double = 2) throws {
        let (host, port, db) = try Self.parse(url: url)
        self.init(host: host, port: port, database: db, timeout: timeout)
    }

    deinit { close() }

    /// `redis://HOST[:PORT][/DB]` → its parts (port 6379, db 0 by default).
    public static func parse(url: String) throws -> (host: String, port: Int32, database: Int) {
        guard url.hasPrefix("redis://") else { throw RedisError(.connection, "not a redis:// URL: \(url)") }
        var rest = Substring(url.dropFirst("redis://".count))
        var db = 0
        if let slash = rest.firstIndex(of: "/") {
            let tail = rest[rest.index(after: slash)...]
            if !tail.isEmpty {
                guard let n = Int(tail), n >= 0 else { throw RedisError(.connection, "bad database number in \(url)") }
                db = n
            }
            rest = rest[..<slash]
        }
        var host = String(rest)
        var port: Int32 = 6379
        if let colon = rest.lastIndex(of: ":") {
            host = String(rest[..<colon])
            guard let p = Int32(rest[rest.index(after: colon)...]), p > 0 else { throw RedisError(.connection, "bad port in \(url)") }
            port = p
        }
        guard !host.isEmpty else { throw RedisError(.connection, "no host in \(url)") }
        return (host, port, db)
    }

    public func close() {
        if let context { redisFree(context) }
        context = nil
    }

    private func connect() throws {
        guard context == nil else { return }
        guard let c = aifs_redis_connect(host, port, Int(timeout * 1000)) else {
            throw RedisError(.connection, "cannot reach redis at \(host):\(port): out of memory")
        }
        if c.pointee.err != 0 {
            let message = Self.errorString(c)
            redisFree(c)
            throw RedisError(.connection, "cannot reach redis at \(host):\(port): \(message)")
        }
        context = c
        _ = aifs_redis_set_timeout(c, Int(timeout * 1000))
        if database != 0 {
            let reply = try command(["SELECT", "\(database)"])
            if case .error(let message) = reply { throw RedisError(.reply, "SELECT \(database): \(message)") }
        }
    }

    private static func errorString(_ c: UnsafeMutablePointer<redisContext>) -> String {
        withUnsafeBytes(of: c.pointee.errstr) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    /// Runs one command. Error replies come back as `.error`, not thrown; connection failures
    /// throw (and close the connection).
    @discardableResult
    public func command(_ arguments: [String]) throws -> RedisValue {
        try command(arguments.map { Array($0.utf8) })
    }

    /// Runs one command with binary-safe arguments. `readTimeout`, if given, replaces the
    /// connection's timeout for this call (a blocking `XREAD BLOCK`).
    @discardableResult
    public func command(_ arguments: [[UInt8]], readTimeout: Double? = nil) throws -> RedisValue {
        try connect()
        guard let c = context else { throw RedisError(.connection, "not connected") }
        if let readTimeout { _ = aifs_redis_set_timeout(c, Int(readTimeout * 1000)) }
        defer { if readTimeout != nil, let c = context { _ = aifs_redis_set_timeout(c, Int(timeout * 1000)) } }
        let reply = Self.withArgv(arguments) { argc, argv, lengths in aifs_redis_command_argv(c, argc, argv, lengths) }
        guard let reply else {
            let message = c.pointee.err != 0 ? Self.errorString(c) : "no reply"
            close()
            throw RedisError(.connection, "redis at \(host):\(port): \(message)")
        }
        defer { freeReplyObject(reply) }
        return Self.value(reply)
    }

    /// Waits for the next reply without sending anything: a message of a `SUBSCRIBE`d
    /// connection. `readTimeout` 0 waits as long as it takes (``interrupt()`` ends the wait from
    /// another thread). Connection failures throw (and close the connection).
    public func receive(readTimeout: Double) throws -> RedisValue {
        try connect()
        guard let c = context else { throw RedisError(.connection, "not connected") }
        _ = aifs_redis_set_timeout(c, Int(readTimeout * 1000))
        guard let reply = aifs_redis_get_reply(c) else {
            let message = c.pointee.err != 0 ? Self.errorString(c) : "no reply"
            close()
            throw RedisError(.connection, "redis at \(host):\(port): \(message)")
        }
        defer { freeReplyObject(UnsafeMutableRawPointer(reply)) }
        return Self.value(reply)
    }

    /// The connection's socket, while connected (for ``interrupt(descriptor:)``).
    public var descriptor: Int32? { context.map { $0.pointee.fd } }

    /// Ends a blocking ``receive(readTimeout:)`` on the connection with this descriptor, from
    /// another thread: the socket is shut down, so the read fails at once.
    public static func interrupt(descriptor: Int32) {
        _ = shutdown(descriptor, Int32(SHUT_RDWR))
    }

    /// Sends several commands at once and reads their replies in order (one network round
    /// trip for all). Connection failures throw (the connection is closed; some of the commands
    /// may have run).
    public func pipeline(_ commands: [[[UInt8]]]) throws -> [RedisValue] {
        guard !commands.isEmpty else { return [] }
        try connect()
        guard let c = context else { throw RedisError(.connection, "not connected") }
        for arguments in commands {
            let status = Self.withArgv(arguments) { argc, argv, lengths in aifs_redis_append_argv(c, argc, argv, lengths) }
            if status != REDIS_OK {
                close()
                throw RedisError(.connection, "redis at \(host):\(port): cannot queue a command")
            }
        }
        var values: [RedisValue] = []
        for _ in commands {
            guard let reply = aifs_redis_get_reply(c) else {
                let message = c.pointee.err != 0 ? Self.errorString(c) : "no reply"
                close()
                throw RedisError(.connection, "redis at \(host):\(port): \(message)")
            }
            values.append(Self.value(reply))
            freeReplyObject(UnsafeMutableRawPointer(reply))
        }
        return values
    }

    /// Calls `body` with C copies of `arguments` (argc, argv, lengths) that live for the call:
    /// hiredis formats them before returning.
    private static func withArgv<T>(_ arguments: [[UInt8]],
                                    _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>?, UnsafeMutablePointer<Int>?) -> T) -> T {
        let buffers = arguments.map { bytes -> UnsafeMutablePointer<CChar> in
            let p = UnsafeMutablePointer<CChar>.allocate(capacity: max(1, bytes.count))
            bytes.withUnsafeBufferPointer { src in
                if let base = src.baseAddress { UnsafeMutableRawPointer(p).copyMemory(from: base, byteCount: bytes.count) }
            }
            return p
        }
        defer { buffers.forEach { $0.deallocate() } }
        var argv: [UnsafePointer<CChar>?] = buffers.map { UnsafePointer($0) }
        var lengths = arguments.map { $0.count }
        return argv.withUnsafeMutableBufferPointer { argvBuffer in
            lengths.withUnsafeMutableBufferPointer { lengthBuffer in
                body(Int32(arguments.count), argvBuffer.baseAddress, lengthBuffer.baseAddress)
            }
        }
    }

    private static func value(_ r: UnsafeMutablePointer<redisReply>) -> RedisValue {
        let reply = r.pointee
        switch reply.type {
        case REDIS_REPLY_STRING:
            return .bulk(bytes(reply.str, reply.len))
        case REDIS_REPLY_STATUS:
            return .status(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            return .error(String(decoding: bytes(reply.str, reply.len), as: UTF8.self))
        case REDIS_REPLY_INTEGER:
            return .integer(reply.integer)
        case REDIS_REPLY_ARRAY:
            var items: [RedisValue] = []
            for i in 0..<Int(reply.elements) {
                if let element = reply.element[i] { items.append(value(element)) } else { items.append(.null) }
            }
            return .array(items)
        default:
            return .null
        }
    }

    private static func bytes(_ pointer: UnsafeMutablePointer<CChar>?, _ length: Int) -> [UInt8] {
        guard let pointer, length > 0 else { return [] }
        return Array(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}
