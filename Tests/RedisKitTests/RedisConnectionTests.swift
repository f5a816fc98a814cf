import Foundation
import RedisKit
import Testing

/// RedisKit against a real `redis-server` started on a free loopback port for the suite.
@Suite("RedisKit", .serialized)
struct RedisConnectionTests {
    @Test("URLs parse into host, port and database; bad ones say why")
    func urls() throws {
        #expect(try RedisConnection.parse(url: "redis://127.0.0.1:6380/2") == ("127.0.0.1", 6380, 2))
        #expect(try RedisConnection.parse(url: "redis://localhost") == ("localhost", 6379, 0))
        for bad in ["http://x", "redis://", "redis://h:0", "redis://h/x"] {
            #expect(throws: RedisError.self, "\(bad)") { _ = try RedisConnection.parse(url: bad) }
        }
    }

    @Test("commands, binary-safe values, error replies, streams; a dead server is a connection error",
          .enabled(if: RedisServer.available, "redis-server is not installed (apt-get install redis-server)"))
    func roundTrip() throws {
        let server = try RedisServer.start()
        defer { server.stop() }
        let redis = RedisConnection(host: "127.0.0.1", port: server.port, database: 3)
        #expect(try redis.command(["PING"]) == .status("PONG"))
        let binary: [UInt8] = [0, 1, 0xFF, 0x0A, 0x0D]
        #expect(try redis.command([Array("SET".utf8), Array("k".utf8), binary]) == .status("OK"))
        #expect(try redis.command(["GET", "k"]) == .bulk(binary))
        #expect(try redis.command(["GET", "missing"]) == .null)
        #expect(try redis.command(["INCR", "n"]) == .integer(1))
        if case .error(let message) = try redis.command(["INCR", "k"]) { #expect(message.contains("not an integer")) } else { Issue.record("no error reply") }
        let id = try redis.command(["XADD", "s", "*", "f", "v"]).string
        let read = try redis.command([Array("XREAD".utf8), Array("BLOCK".utf8), Array("100".utf8), Array("STREAMS".utf8),
                                      Array("s".utf8), Array("0".utf8)], readTimeout: 2)
        #expect(read.array?.first?.array?[1].array?.first?.array?.first?.string == id)
        let replies = try redis.pipeline([["INCR", "p"], ["INCR", "p"], ["GET", "k"], ["INCR", "k"]].map { $0.map { Array($0.utf8) } })
        #expect(replies.count == 4 && replies[0] == .integer(1) && replies[1] == .integer(2) && replies[2] == .bulk(binary))
        if case .error = replies[3] {} else { Issue.record("a pipelined error reply comes back in its place: \(replies)") }
        server.stop()
        #expect(throws: RedisError.self) { try redis.command(["PING"]) }
    }
}

/// A throwaway `redis-server` on a free port, with no persistence, for tests.
final class RedisServer {
    let port: Int32
    let pid: Int32
    static var available: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") }

    private init(port: Int32, pid: Int32) {
        self.port = port
        self.pid = pid
    }

    static func start() throws -> RedisServer {
        let port = Int32.random(in: 20000...40000)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/redis-server")
        process.arguments = ["--port", "\(port)", "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let server = RedisServer(port: port, pid: process.processIdentifier)
        for _ in 0..<100 {
            if (try? RedisConnection(host: "127.0.0.1", port: port).command(["PING"])) == .status("PONG") { return server }
            usleep(20_000)
        }
        server.stop()
        throw RedisError(.connection, "redis-server did not start on port \(port)")
    }

    func stop() {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}
