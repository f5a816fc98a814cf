import Foundation
import Testing

/// Starts the real `aifs` daemon (`aifs mount DIR -f`) on a fresh temp mountpoint and always
/// tears it down (SIGTERM, then a lazy unmount if anything is left), even when the test fails.
///
/// Every syscall against the mount comes from a child process (bash, python3, coreutils) that is
/// waited for on a dedicated thread, never from a task on Swift's cooperative pool.
final class MountedAIFS: @unchecked Sendable {
    let mountpoint: String
    let process: ChildProcess
    let logPath: String
    /// The daemon's store (a temp directory next to the mountpoint, removed by ``stop()``).
    let storePath: String

    /// The `aifs` binary built next to this test bundle, or `$AIFS_TEST_BINARY` (the leak check
    /// runs the tests against a daemon built with AddressSanitizer: Benchmarks/leakcheck.sh).
    static var binary: String {
        if let override = ProcessInfo.processInfo.environment["AIFS_TEST_BINARY"], !override.isEmpty { return override }
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent("aifs").path
    }

    static func makeTempDirectory(_ prefix: String) -> String {
        let path = NSTemporaryDirectory() + "\(prefix)-\(getpid())-\(UUID().uuidString.prefix(8))"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `options`: `-o` mount options (`allow_other` for tests with a second uid).
    init(options: String? = nil) async throws {
        mountpoint = Self.makeTempDirectory("aifs-mnt")
        logPath = mountpoint + ".log"
        _ = FileManager.default.createFile(atPath: logPath, contents: nil)
        let logFD = open(logPath, O_WRONLY | O_APPEND | O_CLOEXEC)
        defer { close(logFD) }
        storePath = mountpoint + ".store/aifs.db"
        process = try ChildProcess([Self.binary, "mount", mountpoint, "-f", "--store", storePath] + (options.map { ["-o", $0] } ?? []),
                                   environment: ProcessInfo.processInfo.environment, stdout: logFD, stderr: logFD)
        // The deadline bounds a failure only: a loaded machine mounts later, not never.
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if await Shell.run("test -f '\(mountpoint)/ctl'").status == 0 { return }
            if !process.isRunning { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        await stop()
        Issue.record("the daemon did not mount within 60 s; log:\n\(log)")
        throw MountFailure()
    }

    struct MountFailure: Error {}

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }
    var pid: Int32 { process.pid }

    /// SIGTERM, wait up to 10 s, then clear whatever is left.
    func stop() async {
        if process.isRunning { kill(process.pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning, Date() < deadline { try? await Task.sleep(for: .milliseconds(20)) }
        if process.isRunning { kill(process.pid, SIGKILL); _ = await Shell.run("sleep 0.2") }
        _ = await Shell.run("grep -q ' \(mountpoint) ' /proc/mounts && umount -l '\(mountpoint)'; rmdir '\(mountpoint)' 2>/dev/null; rm -f '\(logPath)'; rm -rf '\(mountpoint).store'")
    }

    /// Runs `body` with a fresh mount and always stops it.
    static func with(options: String? = nil, _ body: (MountedAIFS) async throws -> Void) async throws {
        let mount = try await MountedAIFS(options: options)
        do {
            try await body(mount)
        } catch {
            await mount.stop()
            throw error
        }
        await mount.stop()
    }

    /// Mounts a fresh daemon with `config` (TOML) on `$M` in a temp directory, runs `body`
    /// (bash), and always unmounts and removes it all.
    static func script(config: String, _ body: String, timeout: Double = 120) async -> Shell.Result {
        let dir = makeTempDirectory("aifs-conf")
        try? config.write(toFile: dir + "/config.toml", atomically: true, encoding: .utf8)
        let r = await Shell.run("""
            M=\(dir)/mnt; C=\(dir)/config.toml; mkdir -p $M
            trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null' EXIT
            $AIFS mount $M --config $C >/dev/null || exit 1
            \(body)
            """, timeout: timeout)
        _ = await Shell.run("grep -q ' \(dir)/mnt ' /proc/mounts && umount -l '\(dir)/mnt'; rm -rf '\(dir)'")
        return r
    }

    /// Runs a bash script with `M` set to the mountpoint.
    func sh(_ script: String, timeout: Double = 60) async -> Shell.Result {
        await Shell.run(script, environment: ["M": mountpoint], timeout: timeout)
    }
}

/// Child processes, waited for on dedicated threads.
enum Shell {
    /// This directory (`Tests/MountTests`): the scripts' helpers.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    struct Result: CustomStringConvertible {
        var status: Int32
        var stdout: String
        var stderr: String
        var description: String { "status \(status)\nstdout:\n\(stdout)\nstderr:\n\(stderr)" }
    }

    static func run(_ script: String, environment: [String: String] = [:], timeout: Double = 60) async -> Result {
        await withCheckedContinuation { continuation in
            let thread = Thread {
                continuation.resume(returning: runBlocking(script, environment: environment, timeout: timeout))
            }
            thread.start()
        }
    }

    static func runBlocking(_ script: String, environment: [String: String], timeout: Double) -> Result {
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        env["AIFS"] = MountedAIFS.binary
        // Helpers for the scripts: `python3 $AIFS_TESTS/wait_readers.py DIR N [--parked]` waits
        // for readers to be blocked on the mount (an event, instead of a fixed sleep).
        env["AIFS_TESTS"] = Shell.directory
        env["LC_ALL"] = "C"  // plain quotes in coreutils' messages
        // Every daemon a script starts uses this script's own store, never the user's.
        let scratch = MountedAIFS.makeTempDirectory("aifs-scratch")
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        env["XDG_DATA_HOME"] = scratch
        if environment["AIFS_STORE_PATH"] == nil { env["AIFS_STORE_PATH"] = scratch + "/store/aifs.db" }
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        // Close-on-exec: a child spawned meanwhile by another test (a daemon that outlives it)
        // must not inherit these pipes, or this test's reader would wait for that daemon.
        guard ChildProcess.makePipe(&outPipe), ChildProcess.makePipe(&errPipe) else {
            return Result(status: -1, stdout: "", stderr: "pipe failed")
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(["/bin/bash", "-c", script], environment: env, stdout: outPipe[1], stderr: errPipe[1])
        } catch {
            [outPipe[0], outPipe[1], errPipe[0], errPipe[1]].forEach { close($0) }
            return Result(status: -1, stdout: "", stderr: "\(error)")
        }
        close(outPipe[1]); close(errPipe[1])
        final class Box: @unchecked Sendable { var data = Data() }
        let stdoutBox = Box(), stderrBox = Box()
        let group = DispatchGroup()
        for (fd, box) in [(outPipe[0], stdoutBox), (errPipe[0], stderrBox)] {
            group.enter()
            Thread {
                box.data = FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
                group.leave()
            }.start()
        }
        var status = child.wait(timeout: timeout)
        if status == nil {
            child.killGroup(SIGKILL)
            status = child.wait(timeout: 10)
        }
        // A background grandchild may still hold the pipes open; do not wait for it forever.
        if group.wait(timeout: .now() + 5) == .timedOut { child.killGroup(SIGKILL); _ = group.wait(timeout: .now() + 5) }
        return Result(status: status ?? -1,
                      stdout: String(decoding: stdoutBox.data, as: UTF8.self),
                      stderr: String(decoding: stderrBox.data, as: UTF8.self))
    }

    /// Runs a Python 3 program with the mountpoint as `M` (environment) and `sys.argv[1]`.
    static func python(_ program: String, mountpoint: String, timeout: Double = 60) async -> Result {
        let path = NSTemporaryDirectory() + "aifs-test-\(UUID().uuidString).py"
        try? program.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        return await run("python3 '\(path)' '\(mountpoint)'", environment: ["M": mountpoint], timeout: timeout)
    }
}
