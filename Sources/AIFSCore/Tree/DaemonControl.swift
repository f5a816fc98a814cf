import FuseKit

/// `/ai/ctl`: the daemon's status (read) and its commands (write), `create NAME [MODEL]`,
/// `snapshot [NAME]`, `restore NAME`, `reload`; and `/ai/models`.
///
/// A refused command fails its write with `EINVAL` (or the errno of what failed: `EEXIST`,
/// `ENOENT`, `ENOTSUP`, `ENOSPC`) and its reason becomes the `error:` line of `/ai/ctl`.
/// `reload` re-reads this daemon's own configuration at once; the other commands are posted as
/// a ``Change/daemonControl(text:uid:gid:)`` and run in order when it is applied.
final class DaemonControl: ControlTarget {
    unowned let fileSystem: AIFileSystem
    init(fileSystem: AIFileSystem) { self.fileSystem = fileSystem }

    func applyControl(_ bytes: [UInt8], caller: Caller) throws(Errno) -> Deferred? {
        let fs = fileSystem
        let text = try controlText(bytes) { fs.noteDaemonError($0) }
        let commands = try fs.parseDaemonControl(text)
        if commands.contains(.reload) {
            // The caller's reload (the uid of its event).
            var failure: SocketError?
            ChangeContext.posting(as: caller.uid) {
                do throws(SocketError) { try fs.environment.reload() } catch { failure = error }
            }
            if let failure {
                fs.noteDaemonError("reload: \(failure.reason)")
                throw failure.errno
            }
        }
        guard commands.contains(where: { $0 != .reload }) else { return nil }
        let shared = text.split(separator: "\n").filter { $0.trimmingSpaces() != "reload" }.joined(separator: "\n")
        let log = fs.log
        return { done in
            log.post(.daemonControl(text: shared, uid: caller.uid, gid: caller.gid)) { done($0.errno) }
        }
    }

    func refuseOverLimit(_ limit: Int) {
        fileSystem.noteDaemonError("ctl write over \(limit) bytes")
    }
}

extension AIFileSystem {
    /// `/ai/ctl` commands, parsed and run in order (applying a logged change).
    func applyDaemonControl(_ text: String) throws(Errno) -> Deferred? {
        let commands = try parseDaemonControl(text)
        return { [self] done in runDaemon(commands[...], done: done) }
    }

    /// `/ai/ctl` text as commands; a refusal becomes the `error:` line of `/ai/ctl`.
    func parseDaemonControl(_ text: String) throws(Errno) -> [DaemonCommand] {
        do {
            return try DaemonCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
        } catch {
            noteDaemonError(error.reason)
            throw error.errno
        }
    }

    /// Runs `/ai/ctl` commands in order, stopping at the first failure (its reason shows as the
    /// `error:` line of `/ai/ctl`); snapshots and restores wait for the store.
    func runDaemon(_ commands: ArraySlice<DaemonCommand>, done: @escaping @Sendable (Errno?) -> Void) {
        guard let command = commands.first else { return done(nil) }
        let rest = commands.dropFirst()
        let next: @Sendable (SnapshotFailure?) -> Void = { [self] failure in
            if let failure {
                noteDaemonError(failure.reason)
                return done(failure.errno)
            }
            runDaemon(rest, done: done)
        }
        switch command {
        case .create(let name, let model):
            do {
                let socket = try registry.create(name: FileName(name), model: model, uid: identity.uid, gid: identity.gid, mode: 0o755)
                invalidator?.invalidateEntry(parent: InodeScheme.root, name: name)
                log.claimIfOrigin(socket.id)
                next(nil)
            } catch {
                next(SnapshotFailure(error.errno, "create \(name): \(error.reason)"))
            }
        case .reload:
            do {
                try environment.reload()
                next(nil)
            } catch {
                next(SnapshotFailure(error.errno, "reload: \(error.reason)"))
            }
        case .snapshot(let name):
            snapshots.take(name, trigger: .manual) { result in
                if case .failure(let failure) = result { next(SnapshotFailure(failure.errno, "snapshot: \(failure.reason)")) } else { next(nil) }
            }
        case .restore(let name):
            snapshots.restore(name, socket: nil) { failure in
                next(failure.map { SnapshotFailure($0.errno, "restore: \($0.reason)") })
            }
        }
    }

    /// The last refused `/ai/ctl` command, shown as its `error:` line.
    func noteDaemonError(_ reason: String) {
        daemonError.withLock { $0 = "\(WallClock.iso8601(WallClock.now())) \(reason)" }
    }

    // MARK: Generated files

    public func daemonControlText() -> String {
        let counters = environment.counters
        let sockets = registry.all()
        let uptime = Int(WallClock.now() - identity.started)
        var lines = [
            "version: \(identity.version)",
            "uptime: \(uptime)s",
            "mountpoint: \(identity.mountpoint)",
            "store: \(environment.store.location)",
            "store-writes: \(environment.store.statistics.groups) in \(environment.store.statistics.transactions) transactions",
            "store-backlog: \(environment.store.statistics.backlog)",
            "pid: \(identity.pid)",
            "sockets: \(sockets.count)",
            "in-flight: \(counters.inFlight)",
            "requests: \(counters.requests)",
            "messages: \(counters.messages)",
            "default-model: \(environment.catalog().defaultModel)",
            "config: \(environment.configStatus)",
        ]
        if let endpoint = metricsEndpoint.withLock({ $0 }) { lines.append("metrics-listen: \(endpoint)") }
        lines += log.statusLines(sockets: sockets.map(\.id))
        if snapshots.isAvailable { lines.append("snapshots: \(snapshots.list().count)") }
        if let error = daemonError.withLock({ $0 }) { lines.append("error: \(error)") }
        for (provider, status) in environment.catalog().providerStatus {
            lines.append("provider \(provider): \(status)")
        }
        // The directory view for discovery: one line per socket.
        for socket in sockets {
            let info = socket.info
            let capabilities = info.settings[.capabilities].map { $0.isEmpty ? "-" : $0 } ?? "-"
            lines.append("socket \(info.name): \(info.model) \(info.state.rawValue) \(capabilities)")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    public func modelsText() -> String {
        environment.catalog().listedIDs.joined(separator: "\n") + "\n"
    }

}
