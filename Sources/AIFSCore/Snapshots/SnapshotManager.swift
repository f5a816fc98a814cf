import Dispatch
import FuseKit
import Synchronization

/// Snapshots and undo: takes, lists, deletes and restores snapshots, and takes the automatic
/// ones (every `snapshots.interval`, and before every socket `rmdir`, `reset` and `restore`).
///
/// The list is kept in memory, so `ls /ai/snapshots` and `stat` never wait for the disk. A
/// snapshot is an event in the store's queue like any other change (see ``SnapshotStore``), so
/// it holds exactly what was recorded before it was asked for: one taken before an `rmdir` is
/// queued before the removal, without waiting. Restores run on this manager's serial queue,
/// never on the FUSE loop thread.
public final class SnapshotManager: Sendable {
    let environment: SocketEnvironment
    private let registryBox = Mutex<WeakRegistry>(WeakRegistry())
    private let catalog = Mutex<[SnapshotInfo]>([])
    private let queue = DispatchQueue(label: "aifs.snapshots")
    /// Names in the kernel's cache to drop when sockets change under it (set by the tree).
    private let invalidateBox = Mutex<(@Sendable (Set<String>) -> Void)?>(nil)
    private let timerStarted = Mutex(false)

    public init(environment: SocketEnvironment, registry: SocketRegistry) {
        self.environment = environment
        registryBox.withLock { $0.value = registry }
        if environment.store.supportsSnapshots {
            let loaded = (try? environment.store.snapshotCatalog()) ?? []
            catalog.withLock { $0 = loaded }
        }
    }

    private var registry: SocketRegistry? { registryBox.withLock { $0.value } }
    public var isAvailable: Bool { environment.store.supportsSnapshots }

    func setInvalidator(_ invalidate: @escaping @Sendable (Set<String>) -> Void) {
        invalidateBox.withLock { $0 = invalidate }
    }

    // MARK: The list

    /// Every snapshot, oldest first.
    public func list() -> [SnapshotInfo] { catalog.withLock { $0 } }
    public func snapshot(named name: String) -> SnapshotInfo? { catalog.withLock { $0.first { $0.name == name } } }
    public func snapshot(id: Int64) -> SnapshotInfo? { catalog.withLock { $0.first { $0.id == id } } }

    // MARK: Taking and deleting

    /// Takes a snapshot now (named, or `TRIGGER-TIME` when `name` is nil) of every socket, or of
    /// `onlySocket` alone (before an act on that socket: it costs what that socket holds). `done`,
    /// if given, runs once it is committed. `EINVAL` (bad name), `EEXIST`, `ENOTSUP` (no durable
    /// store).
    public func take(_ name: String?, trigger: SnapshotTrigger, onlySocket: SocketID? = nil,
                     done: (@Sendable (Result<SnapshotInfo, SnapshotFailure>) -> Void)? = nil) {
        guard isAvailable else {
            done?(.failure(SnapshotFailure(.ENOTSUP, "snapshots need the durable store (this daemon runs with --store memory)")))
            return
        }
        let now = WallClock.now()
        let chosen: String
        if let name {
            if let problem = SnapshotName.problem(with: name) { done?(.failure(SnapshotFailure(.EINVAL, problem))); return }
            if snapshot(named: name) != nil { done?(.failure(SnapshotFailure(.EEXIST, "snapshot '\(name)' exists"))); return }
            chosen = name
        } else {
            chosen = SnapshotName.automatic(trigger, at: now) { [self] in snapshot(named: $0) != nil }
        }
        let ticket = SnapshotTicket(name: chosen, trigger: trigger, created: now, team: registry?.team.settings ?? TeamSettings(),
                                    keepAutomatic: environment.limits.snapshotKeep, onlySocket: onlySocket)
        // The event says it is taken now, in order with what it holds (it is committed later).
        let events = environment.events
        let fields: [(String, EventValue)] = [("name", .string(chosen)), ("trigger", .string(trigger.rawValue))]
        events.record(onlySocket.flatMap { registry?.socket(id: $0)?.info }.map { AIEvent("snapshot", socket: $0, uid: events.causeUID, fields) }
                      ?? AIEvent("snapshot", uid: events.causeUID, time: now, fields))
        environment.store.record([.snapshotTaken(ticket),
                                  .memory(MemoryEntry(time: now, socket: "snapshots", kind: .event,
                                                      content: "snapshot \(chosen) (\(trigger.rawValue))"))]) { [self] error in
            let result: Result<SnapshotInfo, SnapshotFailure> = if let error {
                .failure(SnapshotFailure(error, "the snapshot was not stored (\(error))"))
            } else {
                ticket.result ?? .failure(SnapshotFailure(.EIO, "the snapshot was not taken"))
            }
            catalog.withLock { list in
                if case .success(let info) = result { list.append(info) }
                list.removeAll { ticket.pruned.contains($0.id) }
            }
            done?(result)
        }
    }

    /// A free name for a snapshot taken now by `trigger` (`TRIGGER-TIME`).
    public func automaticName(_ trigger: SnapshotTrigger) -> String {
        SnapshotName.automatic(trigger, at: WallClock.now()) { [self] in snapshot(named: $0) != nil }
    }

    /// Deletes a snapshot. `ENOENT` if there is none of that name.
    public func delete(_ name: String) throws(SnapshotFailure) {
        let removed = catalog.withLock { list -> Bool in
            guard let index = list.firstIndex(where: { $0.name == name }) else { return false }
            list.remove(at: index)
            return true
        }
        guard removed else { throw SnapshotFailure(.ENOENT, "no snapshot '\(name)'") }
        environment.store.record([.snapshotDeleted(name)])
    }

    /// Starts the automatic snapshots (every `snapshots.interval`, re-read at each one).
    public func startAutomatic() {
        guard isAvailable, timerStarted.withLock({ started in defer { started = true }; return !started }) else { return }
        scheduleAutomatic()
    }

    private func scheduleAutomatic() {
        let interval = max(0.05, environment.limits.snapshotInterval)
        queue.asyncAfter(deadline: .now() + interval) { [self] in
            // One daemon (the leader, where many share the namespace) takes them, for everyone.
            let log = environment.log
            if log.isLeader { log.post(.snapshot(name: automaticName(.auto), trigger: .auto, socket: nil)) }
            scheduleAutomatic()
        }
    }

    // MARK: Restoring

    /// Restores every socket (`socket` nil) or one socket from snapshot `name`, after taking a
    /// `before-restore` snapshot of what it will rewrite. A snapshot of one socket restores that
    /// socket alone (`EEXIST` if another socket has its name now). Requests in flight are
    /// cancelled and say so in `error`.
    /// `ENOENT` (no such snapshot, or no such socket in it), `ENOTSUP`. `done` runs when the
    /// sockets are back.
    public func restore(_ name: String, socket: Socket?, done answer: @escaping @Sendable (SnapshotFailure?) -> Void) {
        let done = answer
        guard isAvailable else {
            return done(SnapshotFailure(.ENOTSUP, "snapshots need the durable store (this daemon runs with --store memory)"))
        }
        guard let info = snapshot(named: name) else { return done(SnapshotFailure(.ENOENT, "no snapshot '\(name)'")) }
        if let socket, !info.sockets.contains(where: { $0.name == socket.name }) {
            return done(SnapshotFailure(.ENOENT, "snapshot '\(name)' has no socket '\(socket.name)'"))
        }
        // Named and timed here, on the caller's thread: a cluster applies this at the log entry's time.
        let beforeName = automaticName(.beforeRestore)
        let beforeTime = WallClock.now()
        let context = ChangeContext.applying
        let finished: @Sendable (SnapshotFailure?) -> Void = { [environment] failure in
            ChangeContext.resuming(context) {
                let events = environment.events
                let fields: [(String, EventValue)] = [("snapshot", .string(name)), ("reason", failure.map { .string($0.reason) } ?? .null)]
                events.record(socket.map { AIEvent("restore", socket: $0.info, uid: events.causeUID, fields) }
                              ?? AIEvent("restore", uid: events.causeUID, time: beforeTime, fields))
                answer(failure)
            }
        }
        queue.async { [self] in ChangeContext.resuming(context) {
            guard let registry else { return finished(SnapshotFailure(.EIO, "the daemon is stopping")) }
            // What the restore rewrites: the one socket asked for, the one socket the snapshot
            // holds, or everything.
            let only = socket?.id ?? info.onlySocket
            let live = only.flatMap { registry.socket(id: $0) }
            if only != nil, live == nil, let name = info.sockets.first?.name, registry.socket(named: name) != nil {
                return finished(.nameTaken(name))
            }
            // Nothing to keep when the one socket it restores is not there (it comes back).
            if only == nil || live != nil {
                WallClock.applying(at: beforeTime) { take(beforeName, trigger: .beforeRestore, onlySocket: only) }
            }
            let targets = only == nil ? registry.all() : live.map { [$0] } ?? []
            let reason = "restore of snapshot \(name)"
            var interrupted: [SocketID: UInt64] = [:]
            for target in targets {
                if let message = target.suspendForRestore(reason) { interrupted[target.id] = message }
            }
            let scope: RestoreTicket.Scope = socket.map { .socket($0.id, name: $0.name) } ?? .all
            let cancelled = interrupted
            let ticket = RestoreTicket(snapshot: name, scope: scope)
            environment.store.record([.snapshotRestored(ticket)]) { [self] error in
                queue.async { [self] in
                    ChangeContext.resuming(context) {
                        finishRestore(ticket, targets: targets, interrupted: cancelled, storeError: error, done: finished)
                    }
                }
            }
        } }
    }

    private func finishRestore(_ ticket: RestoreTicket, targets: [Socket], interrupted: [SocketID: UInt64],
                               storeError: Errno?, done: @Sendable (SnapshotFailure?) -> Void) {
        guard let registry else { return done(SnapshotFailure(.EIO, "the daemon is stopping")) }
        var failure: SnapshotFailure?
        var outcome = RestoreTicket.Outcome(restored: targets.map(\.id), removed: [], team: nil)
        if let storeError {
            failure = SnapshotFailure(storeError, "the restore was not stored (\(storeError))")
        } else {
            switch ticket.result {
            case .success(let result): outcome = result
            case .failure(let error): failure = error
            case nil: failure = SnapshotFailure(.EIO, "the restore did not run")
            }
        }
        // The suspended sockets come back as the store now holds them (restored or, after a
        // failure, as they were).
        let ids = Array(Set(outcome.restored + targets.map(\.id)))
        let sockets = (try? environment.store.loadSockets(ids)) ?? []
        let (names, fresh) = registry.replace(with: sockets, removed: outcome.removed)
        if let team = outcome.team {
            registry.team.apply([.mode(team.mode), .moderator(team.moderator), .timeout(team.timeout)])
        }
        for socket in fresh {
            if failure == nil, outcome.restored.contains(socket.id) {
                socket.reportError(kind: "restore", "restored from snapshot \(ticket.snapshot)")
            }
            if let message = interrupted[socket.id] {
                socket.reportError(kind: "restore", "message \(message) was in flight and was cancelled by the restore")
            }
        }
        invalidateBox.withLock { $0 }?(names)
        environment.store.record([.memory(MemoryEntry(time: WallClock.now(), socket: "snapshots", kind: .event,
                                                      content: "restore \(ticket.snapshot): \(failure?.reason ?? "done")"))])
        done(failure)
    }
}
