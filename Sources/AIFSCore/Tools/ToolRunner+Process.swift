import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

extension ToolRunner {
    /// The account of `uid` from the password database (getpwuid_r): name, home, shell; nil if none.
    public static func account(uid: UInt32) -> (name: String, home: String, shell: String)? {
        var entry = passwd()
        var found: UnsafeMutablePointer<passwd>?
        var size = max(Int(sysconf(Int32(_SC_GETPW_R_SIZE_MAX))), 1024)
        while true {
            var buffer = [CChar](repeating: 0, count: size)
            let rc = getpwuid_r(uid_t(uid), &entry, &buffer, size, &found)
            if rc == ERANGE, size < 1 << 20 { size *= 2; continue }
            guard rc == 0, found != nil else { return nil }
            return (String(cString: entry.pw_name), String(cString: entry.pw_dir), String(cString: entry.pw_shell))
        }
    }

    /// The environment a tool gets: PATH=/usr/local/bin:/usr/bin:/bin, HOME, USER, LOGNAME (from
    /// the account; HOME="/" and USER="uid<N>" if there is none), SHELL=/bin/sh, LANG=C.UTF-8,
    /// and nothing else — in particular none of the daemon's variables (API keys).
    public static func environment(uid: UInt32) -> [String: String] {
        let account = account(uid: uid)
        let name = account?.name ?? "uid\(uid)"
        let home = account.map { $0.home.isEmpty ? "/" : $0.home } ?? "/"
        return ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": home, "USER": name, "LOGNAME": name,
                "SHELL": "/bin/sh", "LANG": "C.UTF-8"]
    }

    /// The supplementary groups of `uid`'s account (getgrouplist), `gid` first; just `[gid]` if
    /// there is no account.
    static func groups(uid: UInt32, gid: UInt32) -> [gid_t] {
        guard let name = account(uid: uid)?.name else { return [gid] }
        var count: Int32 = 32
        while true {
            var list = [gid_t](repeating: 0, count: Int(count))
            let wanted = count
            if getgrouplist(name, gid, &list, &count) >= 0 {
                var groups = [gid]
                for group in list.prefix(Int(count)) where !groups.contains(group) { groups.append(group) }
                return groups
            }
            // Too small: `count` now holds the number needed.
            if count <= wanted { count = wanted * 2 }
            if count > 65_536 { return [gid] }
        }
    }

    /// The trampoline `/bin/sh` runs as the user, with an empty environment and
    /// `$1` = workdir, `$2` = the invocation's PATH, `$3` = the program, then `NAME=VALUE` pairs,
    /// then argv. It enters the directory and looks the program up as `execvp` would, then
    /// writes one status line to standard output: `aifs-tool: ok` and it `exec`s the program
    /// through `env -i` (the environment exactly as given), or `aifs-tool: <what failed>` and
    /// it exits. The runner strips that line; nothing of the program precedes it.
    static let trampoline = #"""
        cd -- "$1" 2>/dev/null || { echo 'aifs-tool: cd'; exit 126; }
        p=$3
        case $p in
        */*) ;;
        *) f= r=$2
           while :; do
               d=${r%%:*}; [ -n "$d" ] || d=.
               if [ -f "$d/$p" ] && [ -x "$d/$p" ]; then f=$d/$p; break; fi
               case $r in *:*) r=${r#*:} ;; *) break ;; esac
           done
           [ -n "$f" ] || { echo 'aifs-tool: noent'; exit 127; }
           p=$f ;;
        esac
        [ -e "$p" ] || { echo 'aifs-tool: noent'; exit 127; }
        [ ! -d "$p" ] || { echo 'aifs-tool: isdir'; exit 126; }
        [ -x "$p" ] || { echo 'aifs-tool: acces'; exit 126; }
        echo 'aifs-tool: ok'
        shift 3
        exec /usr/bin/env -i -- "$@"
        """#

    /// The shell's arguments for the trampoline.
    static func trampolineArguments(_ invocation: ToolInvocation) -> [String] {
        let pairs = invocation.environment
            .filter { !$0.key.isEmpty && !$0.key.contains("=") && !$0.key.contains("\0") }
            .sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }
        return ["-c", trampoline, "aifs-tool", invocation.workdir, invocation.environment["PATH"] ?? "",
                invocation.argv[0]] + pairs + invocation.argv
    }

    /// Makes this process a child subreaper (prctl PR_SET_CHILD_SUBREAPER), once: what a tool
    /// leaves behind is then reparented here, to be reaped by `reapOrphans`, instead of to PID 1
    /// (which, in a container, may never reap it). prctl is variadic, so it is called through a
    /// fixed prototype (the Linux x86-64 and arm64 calling conventions pass these alike).
    ///
    /// The daemon asks for it at start (``adoptOrphans()``); a library user that does not (a
    /// test process) leaves orphans to PID 1 as usual: becoming a subreaper would also adopt
    /// every other orphan below it (the daemons a test starts), which it never reaps.
    static let becomeSubreaper: Bool = {
        typealias Prctl = @convention(c) (Int32, UInt, UInt, UInt, UInt) -> Int32
        guard let symbol = dlsym(nil, "prctl") else { return false }
        let prctl = unsafeBitCast(symbol, to: Prctl.self)
        return prctl(36 /* PR_SET_CHILD_SUBREAPER */, 1, 0, 0, 0) == 0
    }()

    /// Makes this process the reaper of what its tools leave behind (see `becomeSubreaper`).
    @discardableResult
    public static func adoptOrphans() -> Bool { becomeSubreaper }

    /// Whether `pid` (a child not yet reaped) has ended; it stays a zombie for swift-subprocess.
    static func hasExited(_ pid: pid_t) -> Bool {
        var info = siginfo_t()
        let rc = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
        if rc != 0 { return errno != EINTR }
        return info._sifields._sigchld.si_pid != 0 || info.si_signo != 0
    }

    /// Waits, on a thread of its own, until `pid` has ended (without reaping it).
    static func waitForExit(_ pid: pid_t) async {
        await onOwnThread {
            var info = siginfo_t()
            while waitid(P_PID, id_t(pid), &info, WEXITED | WNOWAIT) != 0, errno == EINTR {}
        }
    }

    /// Reaps, on a thread of its own, the group's members that were reparented to this process
    /// (it is a subreaper) until none is left; they were killed already, so this ends at once.
    /// Without the subreaper there are none, and `waitid` fails with ECHILD straight away.
    static func reapOrphans(ofGroup group: pid_t) async {
        // Usually there is nothing to wait for (ECHILD) or only the dead: no thread needed.
        var info = siginfo_t()
        while true {
            info = siginfo_t()
            if waitid(P_PGID, id_t(group), &info, WEXITED | WNOHANG) != 0 {
                if errno == EINTR { continue }
                return
            }
            if info._sifields._sigchld.si_pid == 0 { break }  // one is still dying
        }
        await onOwnThread {
            var info = siginfo_t()
            while true {
                if waitid(P_PGID, id_t(group), &info, WEXITED) == 0 { continue }
                if errno != EINTR { return }
            }
        }
    }

    /// Runs a blocking call on a new thread, off Swift's cooperative pool.
    private static func onOwnThread(_ work: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let thread = Thread {
                work()
                continuation.resume()
            }
            thread.name = "aifs-tool-wait"
            thread.start()
        }
    }
}

/// What happened to one run, shared by its tasks: the program's group, and whether the timer
/// or a cancellation killed it (first one wins).
final class RunState: Sendable {
    private struct Fields {
        var group: pid_t?
        var timedOut = false
        var cancelled = false
    }
    private let fields = Mutex(Fields())

    var group: pid_t? { fields.withLock { $0.group } }
    var timedOut: Bool { fields.withLock { $0.timedOut } }
    var cancelled: Bool { fields.withLock { $0.cancelled } }

    func started(_ group: pid_t) { fields.withLock { $0.group = group } }

    /// The timeout passed: kill the group, unless a cancellation already did.
    func timeOut() {
        let group: pid_t? = fields.withLock { fields in
            guard !fields.cancelled, let group = fields.group else { return nil }
            fields.timedOut = true
            return group
        }
        if let group { kill(-group, SIGKILL) }
    }

    /// The run was cancelled: kill the group now, unless the timer already did.
    func cancel() {
        let group: pid_t? = fields.withLock { fields in
            guard !fields.timedOut, let group = fields.group else { return nil }
            fields.cancelled = true
            return group
        }
        if let group { kill(-group, SIGKILL) }
    }
}
