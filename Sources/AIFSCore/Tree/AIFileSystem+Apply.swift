import FuseKit

/// The changes that need the whole tree, applied for the ``Applier``: a socket's ctl text (its
/// checks read the namespace, the caller's rights and the snapshots), snapshots, and what a
/// change made elsewhere means for this kernel's caches.
extension AIFileSystem: TreeChangeApplier {
    /// A socket's ctl commands, parsed, checked all first and applied here (all or nothing);
    /// the reason of a refusal goes to `error`. Returns the part that finishes later (restore).
    func applySocketControl(_ text: String, socket: Socket, caller: Caller) throws(Errno) -> Deferred? {
        do {
            let commands = try ControlCommand.parseLines(text, maxLine: environment.limits.maxControlLine)
            // A fork is checked before anything is applied (all or nothing), made after.
            let forks = commands.compactMap { if case .fork(let name, let turn) = $0 { return (name, turn) } else { return nil } }
            for (name, _) in forks where registry.socket(named: name) != nil || RootEntry(rawValue: name) != nil {
                throw ControlError("fork: socket '\(name)' exists")
            }
            if Set(forks.map(\.0)).count < forks.count { throw ControlError("fork: one name twice in one write") }
            if forks.contains(where: { $0.1 != nil }), commands.contains(.reset) {
                throw ControlError("fork NAME TURN and reset in one write: the turns would be gone; write them apart")
            }
            let exchanges = socket.exchangeCount
            for (_, turn) in forks {
                guard let turn, turn > exchanges else { continue }
                throw ControlError("fork: there is no exchange #\(turn): \(socket.name) has \(exchanges) since its last reset")
            }
            // Only the owner (or root, or the daemon's user) may reset or restore a socket.
            for command in commands where !socket.isOwned(by: caller, daemonUID: identity.uid) {
                if command == .reset { throw SocketError(.EPERM, "reset: only the socket's owner or root may reset it") }
                if case .restore = command { throw SocketError(.EPERM, "restore: only the socket's owner or root may restore it") }
                // Tools run as the owner: only the owner says which, how guarded, where, and
                // which waiting call runs (docs/security.md, "Tools").
                if let verb = command.ownerOnlyToolVerb {
                    throw SocketError(.EPERM, "\(verb): only the socket's owner or root may change its tools or decide its calls")
                }
            }
            // A wire is checked before anything is applied too (ENOENT, ELOOP, and EACCES when
            // the caller may not write to the target's input), made after.
            for command in commands {
                guard case .wire(let name) = command else { continue }
                try registry.checkWire(socket, to: name)
                if let target = registry.socket(named: name), !target.allows(.write, caller) {
                    throw SocketError(.EACCES, "wire: uid \(caller.uid) may not write to \(name)'s input")
                }
            }
            // So is a restore (ENOENT); it runs last, and the write is answered when it is done.
            let restores = commands.compactMap { if case .restore(let name) = $0 { return name } else { return nil } }
            if restores.count > 1 { throw ControlError("one restore per write") }
            if let name = restores.first { try checkRestore(name, socket: socket) }
            // Queued before the reset, so it holds what the reset clears; the write is answered
            // once it is stored (below), so that `ls snapshots` after the reset lists it.
            var snapshot: SnapshotWait?
            if commands.contains(.reset), snapshots.isAvailable {
                let taken = SnapshotWait()
                snapshots.take(nil, trigger: .beforeReset, onlySocket: socket.id) { _ in taken.stored() }
                snapshot = taken
            }
            try socket.apply(commands)
            for command in commands {
                switch command {
                case .wire(let name): try registry.wire(socket, to: name)
                case .unwire: registry.unwire(socket)
                default: break
                }
            }
            for (name, turn) in forks {
                let copy = try registry.fork(socket, to: name, turn: turn, uid: caller.uid, gid: caller.gid)
                invalidator?.invalidateEntry(parent: InodeScheme.root, name: name)
                log.claimIfOrigin(copy.id)
            }
            // `undo ID` puts the file back on the owner; the write is answered once it is back.
            let undo = socket.undoWork(for: commands)
            guard let name = restores.first else {
                switch (snapshot, undo) {
                case (nil, nil): return nil
                case (let snapshot?, nil): return { done in snapshot.whenStored { done(nil) } }
                case (nil, let undo?): return undo
                case (let snapshot?, let undo?): return { done in undo { error in snapshot.whenStored { done(error) } } }
                }
            }
            undo?({ _ in })  // beside a restore, which answers the write
            // A restore is stored after the snapshot (the store keeps order): its end is enough.
            return { [self] done in
                snapshots.restore(name, socket: socket) { failure in
                    if let failure { socket.reportError(kind: "ctl", "restore: \(failure.reason)") }
                    done(failure?.errno)
                }
            }
        } catch let error as ControlError {
            socket.reportRefused(error)
            throw error.errno
        } catch let error as SocketError {
            socket.reportError(kind: "ctl", error.reason)
            throw error.errno
        } catch {
            throw error.asErrno
        }
    }

    /// Whether `restore NAME` on `socket` can run: the snapshot exists and holds that socket.
    private func checkRestore(_ name: String, socket: Socket) throws(SocketError) {
        guard snapshots.isAvailable else { throw SocketError(.ENOTSUP, "restore: snapshots need the durable store") }
        guard let info = snapshots.snapshot(named: name) else { throw SocketError(.ENOENT, "restore: no snapshot '\(name)'") }
        guard info.sockets.contains(where: { $0.name == socket.name }) else {
            throw SocketError(.ENOENT, "restore: snapshot '\(name)' has no socket '\(socket.name)'")
        }
    }

    func applySnapshot(name: String, trigger: SnapshotTrigger, onlySocket: SocketID?, done: @escaping @Sendable (Errno?) -> Void) {
        snapshots.take(name, trigger: trigger, onlySocket: onlySocket) { result in
            if case .failure(let failure) = result { done(failure.errno) } else { done(nil) }
        }
    }

    func applySnapshotDelete(name: String) -> Errno? {
        do {
            try snapshots.delete(name)
            return nil
        } catch {
            return error.errno
        }
    }

    func invalidateRootEntry(_ name: String) {
        invalidator?.invalidateEntry(parent: InodeScheme.root, name: name)
    }

    func invalidateSocketDirectory(_ socket: SocketID) {
        invalidator?.invalidateInode(InodeScheme.inode(socket: socket, file: nil), dataToo: false)
    }
}
