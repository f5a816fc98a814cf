@testable import AIFSCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// ToolRunner against real programs: what they write, how they end, who they run as, and that
/// nothing they start outlives the run.
@Suite("tool runner")
struct ToolRunnerTests {
    /// An invocation as the test process's own user (so it runs whether or not it is root).
    func invocation(_ argv: [String], stdin: [UInt8] = [], workdir: String = "/", timeout: Double = 60,
                    maxOutput: Int = 1 << 20) -> ToolInvocation {
        ToolInvocation(argv: argv, stdin: stdin, uid: getuid(), gid: getgid(), workdir: workdir,
                       environment: ToolRunner.environment(uid: getuid()), timeout: timeout, maxOutput: maxOutput)
    }

    func text(_ result: ToolRunResult) -> String { String(decoding: result.output, as: UTF8.self) }

    /// A fresh temporary directory, removed by the caller.
    func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "aifs-tool-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Waits until `pid` no longer runs: gone, or a zombie (dead, waiting for a reaper: the test
    /// process is not a subreaper as the daemon is, and PID 1 here may never reap). Polls the
    /// state; ``SocketTestSupport/failureBound`` only bounds a failure.
    func disappears(_ pid: pid_t) async -> Bool {
        (try? await SocketTestSupport.eventually("pid \(pid) ends") {
            if kill(pid, 0) != 0, errno == ESRCH { return true }
            // /proc/PID/stat: "PID (COMM) STATE …", the state after the last ')'.
            guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return false }
            return stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z")
        }) ?? false
    }

    /// The pids a program wrote to `file` (space-separated), once it wrote them all.
    func pids(in file: String, count: Int) -> [pid_t]? {
        guard let contents = try? String(contentsOfFile: file, encoding: .utf8) else { return nil }
        let pids = contents.split(whereSeparator: { $0 == " " || $0 == "\n" }).compactMap { pid_t($0) }
        return pids.count == count ? pids : nil
    }

    @Test("echo hi: its output, exit status 0, nothing of the runner's own in the output")
    func echo() async throws {
        let result = try await ToolRunner.run(invocation(["echo", "hi"]))
        #expect(result.status == .exited(0))
        #expect(result.output == Array("hi\n".utf8))
        #expect(result.totalBytes == 3)
        #expect(!result.truncated)
    }

    @Test("an exit status is reported as it is")
    func exitStatus() async throws {
        let result = try await ToolRunner.run(invocation(["/bin/sh", "-c", "exit 3"]))
        #expect(result.status == .exited(3))
        #expect(result.output.isEmpty)
    }

    @Test("standard error is merged into the output")
    func stderrMerged() async throws {
        let result = try await ToolRunner.run(invocation(["sh", "-c", "echo out; echo err >&2; exit 1"]))
        #expect(result.status == .exited(1))
        let lines = text(result).split(separator: "\n").map(String.init).sorted()
        #expect(lines == ["err", "out"])
        #expect(result.totalBytes == 8)
    }

    @Test("stdin reaches the program; a program that does not read it is fine")
    func standardInput() async throws {
        let cat = try await ToolRunner.run(invocation(["cat"], stdin: Array("hello\nworld".utf8)))
        #expect(cat.status == .exited(0))
        #expect(text(cat) == "hello\nworld")
        // Far more than a pipe holds, to a program that never reads it.
        let ignored = try await ToolRunner.run(invocation(["true"], stdin: [UInt8](repeating: 0x61, count: 1 << 20)))
        #expect(ignored.status == .exited(0))
    }

    @Test("output is cut at maxOutput; the rest is read and counted, the program not killed")
    func outputCap() async throws {
        let result = try await ToolRunner.run(invocation(["head", "-c", "100000", "/dev/zero"], maxOutput: 1000))
        #expect(result.status == .exited(0))
        #expect(result.output == [UInt8](repeating: 0, count: 1000))
        #expect(result.totalBytes == 100_000)
        #expect(result.truncated)
    }

    @Test("the timeout kills the program and its children")
    func timeoutKillsGroup() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/pids"
        // The tool's own timeout is what is tested; should a loaded machine not have written the
        // pids in time, the next try gives it longer.
        for timeout in [0.5, 2, 10] {
            try? FileManager.default.removeItem(atPath: file)
            let script = "sleep 300 & echo $$ $! > \(file).tmp; mv \(file).tmp \(file); sleep 300"
            let clock = ContinuousClock.now
            let result = try await ToolRunner.run(invocation(["sh", "-c", script], timeout: timeout))
            #expect(result.status == .timedOut)
            // Left alone, the program runs 300 s: ending well before that is the kill. How soon
            // after the timeout depends on the machine (a loaded test run delays the timer by
            // tens of seconds), so that is no part of the test.
            #expect(ContinuousClock.now - clock < .seconds(290))
            guard let pids = pids(in: file, count: 2) else { continue }
            for pid in pids { #expect(await disappears(pid), "pid \(pid) survived") }
            return
        }
        Issue.record("the program never wrote its pids")
    }

    @Test("a child left running by a program that exits is killed, and the run returns")
    func leftoverChildKilled() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/pid"
        let result = try await ToolRunner.run(invocation(["sh", "-c", "sleep 300 & echo $! > \(file); echo done"]))
        #expect(result.status == .exited(0))
        #expect(text(result) == "done\n")
        let pid = try #require(pids(in: file, count: 1)).first!
        #expect(await disappears(pid))
    }

    @Test("a program that closes its output early is still waited for")
    func closedOutputWaited() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let result = try await ToolRunner.run(invocation(
            ["sh", "-c", "echo before; exec >/dev/null 2>&1; sleep 0.2; touch \(directory)/after; exit 4"]))
        #expect(result.status == .exited(4))
        #expect(text(result) == "before\n")
        #expect(FileManager.default.fileExists(atPath: directory + "/after"))
    }

    @Test("cancelling the run kills the program and returns signaled(SIGKILL)")
    func cancellation() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/pid"
        let run = invocation(["sh", "-c", "echo started; echo $$ > \(file); exec sleep 300"])
        let task = Task { try await ToolRunner.run(run) }
        try await SocketTestSupport.eventually("the program writes its pid") { pids(in: file, count: 1) != nil }
        let pid = try #require(pids(in: file, count: 1)).first!
        task.cancel()
        let result = try await task.value
        #expect(result.status == .signaled(SIGKILL))
        #expect(text(result) == "started\n")
        #expect(await disappears(pid))
    }

    @Test("uid and gid 65534: id -u and id -g say so, and none of root's groups is kept")
    func runsAsNobody() async throws {
        guard geteuid() == 0 else { print("skipped: running as uid 65534 needs root"); return }
        var run = invocation(["sh", "-c", "id -u; id -g; id -G"])
        run.uid = 65534
        run.gid = 65534
        run.environment = ToolRunner.environment(uid: 65534)
        let result = try await ToolRunner.run(run)
        #expect(result.status == .exited(0))
        #expect(text(result) == "65534\n65534\n65534\n")
    }

    @Test("the environment is exactly the tool environment: none of the daemon's variables")
    func environmentIsClean() async throws {
        setenv("OPENAI_API_KEY", "sk-test-not-a-real-key", 1)
        defer { unsetenv("OPENAI_API_KEY") }
        let result = try await ToolRunner.run(invocation(["env"]))
        #expect(result.status == .exited(0))
        var seen: [String: String] = [:]
        for line in text(result).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            seen[parts[0]] = parts.count > 1 ? parts[1] : ""
        }
        #expect(seen["OPENAI_API_KEY"] == nil)
        #expect(!text(result).contains("sk-test-not-a-real-key"))
        let account = ToolRunner.account(uid: getuid())
        #expect(seen["PATH"] == "/usr/local/bin:/usr/bin:/bin")
        #expect(seen["HOME"] == (account?.home ?? "/"))
        #expect(seen["USER"] == (account?.name ?? "uid\(getuid())"))
        #expect(seen == ToolRunner.environment(uid: getuid()))
    }

    @Test("a uid with no account gets HOME=/ and USER=uid<N>")
    func environmentWithoutAccount() {
        let uid: UInt32 = 3_999_999_999
        #expect(ToolRunner.account(uid: uid) == nil)
        let environment = ToolRunner.environment(uid: uid)
        #expect(environment["HOME"] == "/")
        #expect(environment["USER"] == "uid3999999999")
        #expect(environment["LOGNAME"] == "uid3999999999")
        #expect(Set(environment.keys) == ["PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG"])
    }

    @Test("a missing working directory, or one that is a file, is a clear error")
    func missingWorkdir() async throws {
        let missing = "/nonexistent-aifs-\(UUID().uuidString)"
        await #expect(throws: ToolRunError("working directory \(missing): No such file or directory")) {
            try await ToolRunner.run(invocation(["true"], workdir: missing))
        }
        await #expect(throws: ToolRunError("working directory /etc/passwd: Not a directory")) {
            try await ToolRunner.run(invocation(["true"], workdir: "/etc/passwd"))
        }
    }

    @Test("a program that cannot be found or executed is a clear error")
    func missingProgram() async throws {
        await #expect(throws: ToolRunError("cannot run 'no-such-program-aifs': No such file or directory")) {
            try await ToolRunner.run(invocation(["no-such-program-aifs", "x"]))
        }
        await #expect(throws: ToolRunError("cannot run '/nonexistent/prog': No such file or directory")) {
            try await ToolRunner.run(invocation(["/nonexistent/prog"]))
        }
        await #expect(throws: ToolRunError("cannot run '/etc/passwd': Permission denied")) {
            try await ToolRunner.run(invocation(["/etc/passwd"]))
        }
        await #expect(throws: ToolRunError("cannot run an empty command")) {
            try await ToolRunner.run(invocation([]))
        }
    }

    @Test("a working directory only root may enter fails for uid 65534, and is not entered")
    func workdirEnteredAsUser() async throws {
        guard geteuid() == 0 else { print("skipped: running as uid 65534 needs root"); return }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let secret = directory + "/root-only"
        #expect(mkdir(secret, 0o700) == 0)
        var run = invocation(["touch", "entered"], workdir: secret)
        run.uid = 65534
        run.gid = 65534
        await #expect(throws: ToolRunError("working directory \(secret): Permission denied")) {
            try await ToolRunner.run(run)
        }
        #expect(!FileManager.default.fileExists(atPath: secret + "/entered"))
        // Root itself may, and its program runs there.
        let asRoot = try await ToolRunner.run(invocation(["pwd"], workdir: secret))
        #expect(text(asRoot) == secret + "\n")
    }
}
