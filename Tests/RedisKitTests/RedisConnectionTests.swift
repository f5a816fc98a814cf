import Foundation
import RedisKit
import Synchronization
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
    func roundTrip() async throws {
        let server = try await offPool { try RedisServer.start() }
        let redis = RedisConnection(host: "127.0.0.1", port: server.port, database: 3)
        // hiredis blocks until the reply: each call runs on a thread of its own.
        func run(_ arguments: [String]) async throws -> RedisValue { try await offPool { try redis.command(arguments) } }
        func run(_ arguments: [[UInt8]], readTimeout: Double? = nil) async throws -> RedisValue {
            try await offPool { try redis.command(arguments, readTimeout: readTimeout) }
        }
        do {
            #expect(try await run(["PING"]) == .status("PONG"))
            let binary: [UInt8] = [0, 1, 0xFF, 0x0A, 0x0D]
            #expect(try await run([Array("SET".utf8), Array("k".utf8), binary]) == .status("OK"))
            #expect(try await run(["GET", "k"]) == .bulk(binary))
            #expect(try await run(["GET", "missing"]) == .null)
            #expect(try await run(["INCR", "n"]) == .integer(1))
            if case .error(let message) = try await run(["INCR", "k"]) { #expect(message.contains("not an integer")) } else { Issue.record("no error reply") }
            let id = try await run(["XADD", "s", "*", "f", "v"]).string
            let read = try await run([Array("XREAD".utf8), Array("BLOCK".utf8), Array("100".utf8), Array("STREAMS".utf8),
                                      Array("s".utf8), Array("0".utf8)], readTimeout: 2)
            #expect(read.array?.first?.array?[1].array?.first?.array?.first?.string == id)
            let commands = [["INCR", "p"], ["INCR", "p"], ["GET", "k"], ["INCR", "k"]].map { $0.map { Array($0.utf8) } }
            let replies = try await offPool { try redis.pipeline(commands) }
            #expect(replies.count == 4 && replies[0] == .integer(1) && replies[1] == .integer(2) && replies[2] == .bulk(binary))
            if case .error = replies[3] {} else { Issue.record("a pipelined error reply comes back in its place: \(replies)") }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
        await #expect(throws: RedisError.self) { try await run(["PING"]) }
    }
}

/// Runs blocking work (hiredis calls, waiting for a process) on a thread of its own, never on
/// Swift's cooperative pool: tests run in parallel there, and a blocked pool thread (there are
/// two on two cores) starves the other tests' tasks.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// A throwaway `redis-server` on a free port, with no persistence, for tests.
final class RedisServer: Sendable {
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
        // Called on a thread of its own (``offPool(_:)``): the sleeps block no pool thread. The
        // deadline only bounds a failure; a loaded machine starts redis-server later, not never.
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if (try? RedisConnection(host: "127.0.0.1", port: port).command(["PING"])) == .status("PONG") { return server }
            usleep(20_000)
        }
        server.stopBlocking()
        throw RedisError(.connection, "redis-server did not start on port \(port) within 30 s")
    }

    /// Kills the server and waits for it to be gone (on a thread of its own); again is a no-op.
    func stop() async {
        _ = try? await offPool { [self] in stopBlocking() }
    }

    private let stopped = Mutex(false)

    private func stopBlocking() {
        guard stopped.withLock({ done in defer { done = true }; return !done }) else { return }
        kill(pid, SIGKILL)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    }
}
