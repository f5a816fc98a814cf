import FuseKit

/// `/ai/snapshots/`: one read-only directory per snapshot.
///
/// ```
/// snapshots/NAME/metadata.json
/// snapshots/NAME/sockets/SOCKET/{ctl,prompt,transcript}
/// ```
///
/// `mkdir snapshots/NAME` takes one (`EEXIST`, `EINVAL` for a bad name, `ENOTSUP` without the
/// durable store); `rmdir snapshots/NAME` deletes one (`ENOENT`). Inside a snapshot nothing
/// can be written (`EROFS`); unlinking a file or removing an inner directory succeeds and does
/// nothing, so that `rm -r snapshots/NAME` reaches the `rmdir` that deletes it. The files never
/// change, so they are served through the kernel's page cache, with their true sizes.
extension AIFileSystem {
    /// Attributes of a node inside a snapshot: directories `0555`, files `0444`, every time the
    /// snapshot's creation time.
    func snapshotAttributes(_ info: SnapshotInfo, _ node: SnapshotNode) -> FileAttributes {
        let inode = SnapshotNode.inode(snapshot: info.id, node)
        let directory: Bool
        var size = 0
        switch node {
        case .root, .sockets, .socket: directory = true
        case .metadata:
            directory = false
            size = Self.metadataJSON(info).utf8.count
        case .file(let index, let file):
            directory = false
            if index < info.sockets.count {
                let socket = info.sockets[index]
                switch file {
                case .ctl: size = socket.ctlSize
                case .prompt: size = socket.promptSize
                case .transcript: size = socket.transcriptSize
                }
            }
        }
        // A socket's directory and files keep the socket's owner and read bits (never write).
        var permissions: UInt32 = directory ? 0o555 : 0o444
        var owner = (identity.uid, identity.gid)
        let socketIndex: Int? = switch node {
        case .socket(let index), .file(let index, _): index
        default: nil
        }
        if let socketIndex, socketIndex < info.sockets.count {
            let socket = info.sockets[socketIndex]
            permissions &= socket.mode & 0o555
            owner = (socket.uid, socket.gid)
        }
        return FileAttributes(inode: inode, kind: directory ? .directory : .regular, permissions: permissions,
                              linkCount: directory ? 2 : 1, uid: owner.0, gid: owner.1, size: UInt64(size),
                              accessTime: info.created, modificationTime: info.created, changeTime: info.created)
    }

    /// The node named `name` inside snapshot node `node`, if any.
    func snapshotChild(_ info: SnapshotInfo, _ node: SnapshotNode, _ name: String) -> SnapshotNode? {
        switch node {
        case .root:
            if name == "metadata.json" { return .metadata }
            if name == "sockets" { return .sockets }
            return nil
        case .sockets:
            return info.sockets.firstIndex { $0.name == name }.map { .socket($0) }
        case .socket(let index):
            return SnapshotFile(name: name).map { .file(index, $0) }
        case .metadata, .file:
            return nil
        }
    }

    func snapshotListing(_ info: SnapshotInfo, _ node: SnapshotNode, inode: Inode) -> [DirectoryEntry]? {
        var entries = [DirectoryEntry(name: ".", inode: inode, kind: .directory)]
        switch node {
        case .root:
            entries.append(DirectoryEntry(name: "..", inode: InodeScheme.snapshots, kind: .directory))
            entries.append(DirectoryEntry(name: "metadata.json", inode: SnapshotNode.inode(snapshot: info.id, .metadata), kind: .regular))
            entries.append(DirectoryEntry(name: "sockets", inode: SnapshotNode.inode(snapshot: info.id, .sockets), kind: .directory))
        case .sockets:
            entries.append(DirectoryEntry(name: "..", inode: SnapshotNode.inode(snapshot: info.id, .root), kind: .directory))
            for (index, socket) in info.sockets.enumerated() {
                entries.append(DirectoryEntry(name: socket.name, inode: SnapshotNode.inode(snapshot: info.id, .socket(index)), kind: .directory))
            }
        case .socket(let index):
            entries.append(DirectoryEntry(name: "..", inode: SnapshotNode.inode(snapshot: info.id, .sockets), kind: .directory))
            for file in SnapshotFile.allCases {
                entries.append(DirectoryEntry(name: file.name, inode: SnapshotNode.inode(snapshot: info.id, .file(index, file)), kind: .regular))
            }
        case .metadata, .file:
            return nil
        }
        return entries
    }

    /// Opens a file inside a snapshot: `metadata.json` at once, the others read from the store
    /// off the loop thread (the open is answered when they arrive).
    func openSnapshotFile(_ request: consuming Request, _ info: SnapshotInfo, _ node: SnapshotNode, wantsWrite: Bool) {
        if wantsWrite { return request.reply(error: .EROFS) }
        switch node {
        case .metadata:
            request.reply(open: TextFile(Array(Self.metadataJSON(info).utf8)), options: [.keepCache])
        case .file(let index, let file):
            guard index < info.sockets.count else { return request.reply(error: .ENOENT) }
            let pending = PendingRequest(request, interruptible: true)
            environment.store.readSnapshotFile(state: info.sockets[index].state, file) { result in
                guard let request = pending.take() else { return }
                switch result {
                case .success(let bytes): request.reply(open: TextFile(bytes), options: [.keepCache])
                case .failure(let failure): request.reply(error: failure.errno)
                }
            }
        case .root, .sockets, .socket:
            request.reply(error: .EISDIR)
        }
    }

    /// `mkdir /ai/snapshots/NAME`: posted as a ``Change/snapshot(name:trigger:)`` and answered
    /// once it is committed. `ENOTSUP` (no durable store), `EINVAL` (bad name), `EEXIST`.
    func makeSnapshot(_ request: consuming Request, name: FileName) {
        guard let text = name.string else { return request.reply(error: .EINVAL) }
        guard snapshots.isAvailable else { return request.reply(error: .ENOTSUP) }
        if SnapshotName.problem(with: text) != nil { return request.reply(error: .EINVAL) }
        if snapshots.snapshot(named: text) != nil { return request.reply(error: .EEXIST) }
        let uid = request.context.uid
        let pending = PendingRequest(request, interruptible: false)
        environment.admission.post(.snapshot(name: text, trigger: .manual, socket: nil), as: uid, to: log) { [self] result in
            guard let request = pending.take() else { return }
            if let error = result.errno { return request.reply(error: error) }
            guard let info = snapshots.snapshot(named: text) else { return request.reply(error: .EIO) }
            request.reply(entry: entry(.snapshot(info, .root)))
        }
    }

    /// `metadata.json`: id, name, created_at, trigger, scope (`all`, or `socket` for a snapshot
    /// of one socket taken before an act on it) and the socket names.
    static func metadataJSON(_ info: SnapshotInfo) -> String {
        let sockets = info.sockets.map { JSONText.string($0.name) }.joined(separator: ", ")
        return """
            {
              "id": \(info.id),
              "name": \(JSONText.string(info.name)),
              "created_at": \(JSONText.string(WallClock.iso8601(info.created, fraction: true))),
              "trigger": \(JSONText.string(info.trigger.rawValue)),
              "scope": \(JSONText.string(info.onlySocket == nil ? "all" : "socket")),
              "sockets": [\(sockets)]
            }

            """
    }
}

/// JSON string literals, escaped as RFC 8259 requires.
enum JSONText {
    static func string(_ value: String) -> String {
        var out = ""
        append(value, to: &out)
        return out
    }

    /// Appends `value` as a JSON string literal (no copy of it is made first).
    static func append(_ value: String, to out: inout String) {
        out += "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}
