import FuseKit
import Synchronization

/// Why a snapshot was taken. Everything but `manual` counts as automatic for retention.
public enum SnapshotTrigger: String, Sendable, CaseIterable {
    case manual
    case auto
    case beforeRmdir = "before-rmdir"
    case beforeReset = "before-reset"
    case beforeRestore = "before-restore"
    /// A scratch file renamed onto a socket's `prompt` (`sed -i`, an editor's save).
    case beforePrompt = "before-prompt"
    /// A tool call that needed confirmation or matched `[security] require_confirm`.
    case beforeTool = "before-tool"

    public var isAutomatic: Bool { self != .manual }
}

/// One snapshot as the tree lists it (kept in memory, so `ls` and `stat` never wait for disk).
public struct SnapshotInfo: Sendable, Equatable {
    public var id: Int64
    public var name: String
    public var created: Double
    public var trigger: SnapshotTrigger
    /// The sockets it holds, by socket id.
    public var sockets: [SnapshotSocketInfo]
    /// The one socket it holds when it was taken before an act on that socket (`rmdir`,
    /// `reset`, a prompt replaced, that socket's restore); nil when it holds every socket.
    public var onlySocket: SocketID? = nil
}

/// One socket in a snapshot: which stored state holds it, and the sizes of its files.
public struct SnapshotSocketInfo: Sendable, Equatable {
    public var socket: SocketID
    public var name: String
    /// The `socket_state` row (shared by every snapshot that found the socket unchanged).
    public var state: Int64
    public var ctlSize: Int
    public var promptSize: Int
    public var transcriptSize: Int
    /// The socket's owner and mode when the snapshot was taken: its files are as private.
    public var uid: UInt32 = 0
    public var gid: UInt32 = 0
    public var mode: UInt32 = 0o700
}

/// The files of a socket inside a snapshot.
public enum SnapshotFile: UInt64, CaseIterable, Sendable, NamedFile {
    case ctl = 1, prompt, transcript
}

/// A snapshot operation that failed: its errno and the reason for `error` (the same shape as a
/// socket's refusals).
public typealias SnapshotFailure = SocketError

extension SocketError {
    /// A snapshot of one socket cannot come back while another socket has its name.
    static func nameTaken(_ name: String) -> SocketError {
        SocketError(.EEXIST, "another socket is called '\(name)' now: rename or remove it, then restore")
    }
}

/// Snapshot names: 1–64 bytes of `[A-Za-z0-9._-]`, not starting with `.` (as socket names).
public enum SnapshotName {
    public static func problem(with name: String) -> String? {
        if name.isEmpty { return "a snapshot name cannot be empty" }
        if name.utf8.count > 64 { return "snapshot name longer than 64 bytes" }
        if name.hasPrefix(".") { return "a snapshot name cannot start with '.'" }
        let allowed = name.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2E || b == 0x5F || b == 0x2D
        }
        return allowed ? nil : "snapshot names use only letters, digits, '.', '_' and '-'"
    }

    /// A name for a snapshot nobody named: `TRIGGER-YYYYMMDDTHHMMSS.mmmZ`, plus `-N` if taken.
    static func automatic(_ trigger: SnapshotTrigger, at time: Double, taken: (String) -> Bool) -> String {
        let stamp = WallClock.iso8601(time, fraction: true).replacingOccurrences(of: "-", with: "")
            .replacingOccurrences(of: ":", with: "")
        var name = "\(trigger.rawValue)-\(stamp)"
        var n = 2
        while taken(name) { name = "\(trigger.rawValue)-\(stamp)-\(n)"; n += 1 }
        return name
    }
}

/// A request to the store's writer to take a snapshot, in order with every other change, and
/// the result it leaves for whoever waits on the commit.
public final class SnapshotTicket: @unchecked Sendable {
    public let name: String
    public let trigger: SnapshotTrigger
    public let created: Double
    /// Team settings at the moment it was asked for.
    public let team: TeamSettings
    /// How many automatic snapshots to keep (older ones are deleted in the same transaction).
    public let keepAutomatic: Int
    /// The one socket to hold (a snapshot before an act on it); nil for every socket.
    public let onlySocket: SocketID?
    private let outcome = Mutex<(result: Result<SnapshotInfo, SnapshotFailure>?, pruned: [Int64])>((nil, []))

    public init(name: String, trigger: SnapshotTrigger, created: Double, team: TeamSettings, keepAutomatic: Int,
                onlySocket: SocketID? = nil) {
        self.name = name
        self.trigger = trigger
        self.created = created
        self.team = team
        self.keepAutomatic = keepAutomatic
        self.onlySocket = onlySocket
    }

    public var result: Result<SnapshotInfo, SnapshotFailure>? { outcome.withLock { $0.result } }
    /// Automatic snapshots deleted by retention.
    public var pruned: [Int64] { outcome.withLock { $0.pruned } }
    func finish(_ result: Result<SnapshotInfo, SnapshotFailure>, pruned: [Int64]) { outcome.withLock { $0 = (result, pruned) } }
}

/// A request to the store's writer to put a snapshot's sockets back into the live tables.
public final class RestoreTicket: @unchecked Sendable {
    public enum Scope: Sendable {
        /// Every socket: those made since are removed, those deleted since come back.
        case all
        /// One live socket, from the snapshot's socket of the same name.
        case socket(SocketID, name: String)
    }
    public struct Outcome: Sendable {
        /// The sockets rewritten from the snapshot (to load again).
        public var restored: [SocketID]
        /// Live sockets the snapshot did not have (all-scope), now removed.
        public var removed: [SocketID]
        public var team: TeamSettings?
    }
    public let snapshot: String
    public let scope: Scope
    private let outcome = Mutex<Result<Outcome, SnapshotFailure>?>(nil)

    public init(snapshot: String, scope: Scope) {
        self.snapshot = snapshot
        self.scope = scope
    }

    public var result: Result<Outcome, SnapshotFailure>? { outcome.withLock { $0 } }
    func finish(_ result: Result<Outcome, SnapshotFailure>) { outcome.withLock { $0 = result } }
}
