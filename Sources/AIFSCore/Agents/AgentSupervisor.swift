import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Keeps one sandboxed program running for every agent socket this daemon owns (model
/// `agent/NAME`, state not `inactive`), once the mount is up: started when such a socket
/// appears (``reconcile(_:)`` after every change that may make or unmake one), restarted when
/// it exits — after 0.5 s, doubling to 30 s, back to 0.5 s after a life of 60 s or more — and
/// stopped (its group killed and reaped) on `rmdir`, `state inactive`, a model change, and
/// when the daemon stops; a change of the socket's owner restarts it as the new owner. What each does is in its socket's `ctl` (``statusLines(of:)``).
public final class AgentSupervisor: Sendable {
    /// Where the mount is and where the agents' homes are kept; nil until the mount is up.
    struct Place: Sendable {
        var mountpoint: String
        var homes: String
    }

    /// One supervised program.
    final class Run: Sendable {
        struct Status {
            var pid: pid_t?
            var restarts = 0
            var lastExit: String = "-"
            var problem: String?
        }
        let agent: String
        /// The owner it runs as: a `chown` of the socket restarts it as the new one.
        let owner: (UInt32, UInt32)
        let status = Mutex(Status())
        let task = Mutex<Task<Void, Never>?>(nil)
        init(agent: String, owner: (UInt32, UInt32)) {
            self.agent = agent
            self.owner = owner
        }
    }

    private let place = Mutex<Place?>(nil)
    private let runs = Mutex<[SocketID: Run]>([:])
    private let configs = Mutex<[String: AgentConfig]>([:])
    /// `network_rate` of each agent socket.
    let network = NetworkLimiter()

    static let firstDelay = 0.5
    static let longestDelay = 30.0
    /// A life at least this long resets the delay.
    static let healthyLife = 60.0

    public init() {}

    /// The `[agents.NAME]` tables in force.
    func use(_ agents: [String: AgentConfig]) { configs.withLock { $0 = agents } }
    public func config(named name: String) -> AgentConfig? { configs.withLock { $0[name] } }

    /// The mount is up at `mountpoint`: agents may start (their homes under `homes`).
    public func activate(mountpoint: String, homes: String, sockets: [Socket]) {
        place.withLock { $0 = Place(mountpoint: mountpoint, homes: homes) }
        for socket in sockets { reconcile(socket) }
    }

    /// Starts or stops `socket`'s program to match what the socket is now.
    func reconcile(_ socket: Socket) {
        let agent = socket.agentName
        let wanted = place.withLock { $0 != nil } && agent.flatMap(config(named:)) != nil && socket.wantsAgent
            && socket.environment.log.owns(socket.id)
        let info = socket.info
        let owner = (info.uid, info.gid)
        let (stop, start): (Run?, Run?) = runs.withLock { runs in
            let existing = runs[socket.id]
            if wanted, let existing, existing.agent == agent, existing.owner == owner { return (nil, nil) }
            runs[socket.id] = nil
            guard wanted, let agent else { return (existing, nil) }
            let run = Run(agent: agent, owner: owner)
            runs[socket.id] = run
            return (existing, run)
        }
        if let stop { stop.task.withLock { $0 }?.cancel() }
        if let start { begin(start, socket) }
    }

    /// Stops every program (the daemon stops).
    public func stopAll() {
        let all = runs.withLock { runs in
            defer { runs = [:] }
            return Array(runs.values)
        }
        for run in all { run.task.withLock { $0 }?.cancel() }
        place.withLock { $0 = nil }
    }

    /// Whether `pid` belongs to a running agent's sandbox (its session is the sandbox's).
    func isAgentProcess(_ pid: Int32) -> Bool {
        guard pid > 0 else { return false }
        let session = getsid(pid)
        guard session > 0 else { return false }
        return runs.withLock { runs in runs.values.contains { $0.status.withLock { $0.pid } == session } }
    }

    /// An agent creates no socket: `fork` from inside a sandbox is refused.
    static let refuseSocketCreation: @Sendable ([ControlCommand]) -> String? = { commands in
        commands.contains { if case .fork = $0 { return true } else { return false } }
            ? "fork: an agent may not create sockets (it runs in a sandbox)" : nil
    }

    /// What `ctl` shows of the socket's program: `agent`, `agent-pid`, `agent-restarts`,
    /// `agent-last-exit` (and `agent-problem` when it cannot start).
    func statusLines(of socket: SocketID, agent: String) -> [String] {
        guard let run = runs.withLock({ $0[socket] }) else {
            return ["agent: \(agent) (not running)"]
        }
        let status = run.status.withLock { $0 }
        var lines = ["agent: \(agent)", "agent-pid: \(status.pid.map(String.init) ?? "-")",
                     "agent-restarts: \(status.restarts)", "agent-last-exit: \(status.lastExit)"]
        if let problem = status.problem { lines.append("agent-problem: \(problem)") }
        return lines
    }

    private func begin(_ run: Run, _ socket: Socket) {
        let task = Task.detached { [self] in await supervise(run, socket) }
        run.task.withLock { $0 = task }
    }

    /// Runs the program again and again until cancelled.
    private func supervise(_ run: Run, _ socket: Socket) async {
        var delay = Self.firstDelay
        while !Task.isCancelled {
            let began = DaemonCounters.monotonicSeconds()
            let outcome: String
            do {
                let sandbox = try sandbox(run, socket)
                let exit = try await AgentProcess.run(sandbox, started: { pid in
                    run.status.withLock { $0.pid = pid; $0.problem = nil }
                }, line: { line in
                    socket.reportError(kind: "agent", line)
                })
                outcome = Self.describe(exit)
            } catch {
                outcome = "not started"
                run.status.withLock { $0.problem = error.message }
                socket.reportError(kind: "agent", "cannot start: \(error.message)")
            }
            socket.agentInbox.programEnded()
            run.status.withLock { $0.pid = nil; $0.lastExit = outcome }
            if Task.isCancelled { break }
            if DaemonCounters.monotonicSeconds() - began >= Self.healthyLife { delay = Self.firstDelay }
            socket.reportError(kind: "agent", "program \(outcome); restarting in \(delay) s")
            do { try await CancellableSleep.sleep(seconds: delay) } catch { break }
            delay = min(delay * 2, Self.longestDelay)
            run.status.withLock { $0.restarts += 1 }
        }
    }

    /// The sandbox for the socket as it is now (owner, name, configuration).
    private func sandbox(_ run: Run, _ socket: Socket) throws(ToolRunError) -> AgentSandbox {
        guard let place = place.withLock({ $0 }) else { throw ToolRunError("the mount is not up") }
        guard let config = config(named: run.agent) else { throw ToolRunError("no [agents.\(run.agent)] in the configuration") }
        let info = socket.info
        let home = try AgentSandbox.prepareHome(root: place.homes, socket: socket.id, uid: info.uid, gid: info.gid)
        return AgentSandbox(config: config, socketName: info.name, uid: info.uid, gid: info.gid,
                            mountpoint: place.mountpoint, hostHome: home)
    }

    static func describe(_ exit: ToolExit) -> String {
        switch exit {
        case .exited(let code): return "exited \(code)"
        case .signaled(let signal): return "killed by signal \(signal)"
        case .timedOut: return "timed out"
        }
    }
}

extension Socket {
    /// Whether its program should run: not removed, not shut down, not `inactive`.
    var wantsAgent: Bool { state.withLock { !$0.closed && $0.life != .inactive } }
}
