import Foundation

extension AIFileSystem {
    /// The text of `/ai/cluster`: one JSON object per line for each live daemon of the
    /// namespace, as this daemon's keeper last read them (at most a second old); a single
    /// daemon, without a shared log, lists itself. Made at open, never blocking (no Redis call).
    public func clusterText() -> String {
        if let members = log.members { return ClusterMember.listing(members) }
        let me = ClusterMember(id: log.id, host: ClusterMember.localHost, pid: Int(identity.pid), version: identity.version,
                               mountpoint: identity.mountpoint, started: identity.started, sockets: registry.count,
                               leader: true, isSelf: true)
        return ClusterMember.listing([me])
    }
}
