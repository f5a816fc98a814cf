import FuseKit

/// `/ai/memory/search/QUERY`: every name is a query, and opening it runs the query (off the
/// loop thread) and fixes its hits as a read-only ``TextFile``, best first. A bad query reads
/// `aifs: bad search query: …` and then fails with `EINVAL`, so `cat` fails; `EACCES` for a
/// write, `EINTR` when the opener is interrupted while the query runs.
extension AIFileSystem {
    /// Marks the query of a name that is not UTF-8 (a NUL, which no file name can hold): its
    /// lookup succeeds like any other and its open reads as a bad query.
    static let notUTF8Query = "\u{0}"

    /// Runs the query off the loop thread; the open is answered (or interrupted) meanwhile.
    /// A user sees only hits of sockets they may read (and of `team-chat-all` and `snapshots`,
    /// which every user of the mount shares); hits of removed sockets only root and the daemon's
    /// user see.
    func openSearch(_ request: consuming Request, query: String) {
        if query.hasPrefix(Self.notUTF8Query) {
            let file = TextFile(text: "aifs: bad search query: the name is not valid UTF-8\n", failsAtEnd: true)
            return request.reply(open: file, options: [.directIO])
        }
        let caller = Caller(uid: request.context.uid, gid: request.context.gid)
        let privileged = caller.isRoot || caller.uid == identity.uid
        let pending = PendingRequest(request, interruptible: true)
        environment.store.search(query, limit: privileged ? Self.searchLimit : Self.searchLimit * 5) { [self] result in
            guard let request = pending.take() else { return }
            let file: TextFile
            switch result {
            case .success(var hits):
                if !privileged {
                    hits = hits.filter { hit in
                        if hit.socket == "team-chat-all" || hit.socket == "snapshots" { return true }
                        return registry.socket(named: hit.socket)?.allows(.read, caller) ?? false
                    }
                }
                file = TextFile(text: hits.prefix(Self.searchLimit).map { $0.line + "\n" }.joined())
            case .failure(let error):
                file = TextFile(text: "aifs: \(error.message)\n", failsAtEnd: true)
            }
            request.reply(open: file, options: [.directIO])
        }
    }
}
