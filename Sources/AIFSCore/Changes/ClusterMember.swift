import Foundation

/// One daemon of a namespace, as `/ai/cluster` lists it: who it is, when it was last heard of,
/// how many sockets it answers and how far into the shared log it has applied.
///
/// With the Redis backend each daemon's keeper writes its own record every second (the hash
/// `aifs:daemon:ID`, beside its score in `aifs:daemons`) and reads everyone's back; a daemon not
/// heard of for `[store] member_timeout` is gone from the list. A single daemon lists itself.
public struct ClusterMember: Sendable, Equatable {
    public var id: String
    public var host: String
    public var pid: Int
    public var version: String
    public var mountpoint: String
    /// Unix seconds the daemon started.
    public var started: Double
    /// Unix seconds of its last heartbeat (Redis's clock); nil for a single daemon.
    public var heartbeat: Double?
    /// Milliseconds since that heartbeat, when the list was read.
    public var heartbeatAgeMilliseconds: Int?
    /// Sockets whose lease it holds (a single daemon: every socket).
    public var sockets: Int
    /// The last log id it applied; nil without a shared log.
    public var position: String?
    /// How far its position is behind the newest entry of the log, in the log's milliseconds
    /// (stream ids are `MS-SEQ`); 0 when it has applied everything.
    public var lagMilliseconds: Int?
    /// Whether it holds `aifs:leader` (automatic snapshots, checkpoints, trimming).
    public var leader: Bool
    /// Whether it is the daemon this mount belongs to.
    public var isSelf: Bool

    public init(id: String, host: String, pid: Int, version: String, mountpoint: String, started: Double,
                heartbeat: Double? = nil, heartbeatAgeMilliseconds: Int? = nil, sockets: Int, position: String? = nil,
                lagMilliseconds: Int? = nil, leader: Bool, isSelf: Bool) {
        self.id = id
        self.host = host
        self.pid = pid
        self.version = version
        self.mountpoint = mountpoint
        self.started = started
        self.heartbeat = heartbeat
        self.heartbeatAgeMilliseconds = heartbeatAgeMilliseconds
        self.sockets = sockets
        self.position = position
        self.lagMilliseconds = lagMilliseconds
        self.leader = leader
        self.isSelf = isSelf
    }

    /// This host's name (`gethostname`).
    public static var localHost: String {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, 255)
        return String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The fields a daemon writes into its hash (`HSET aifs:daemon:ID …`), as name/value pairs.
    static func record(host: String, pid: Int32, version: String, mountpoint: String, started: Double,
                       sockets: Int, position: String) -> [String] {
        ["host", host, "pid", "\(pid)", "version", version, "mountpoint", mountpoint,
         "started", "\(started)", "sockets", "\(sockets)", "position", position]
    }

    /// A member read back from its hash; nil if the hash is gone (it expired meanwhile).
    init?(id: String, fields: [String: String], heartbeatMilliseconds: Int64, now: Int64, lastLogID: String,
          leader: String?, selfID: String) {
        guard !fields.isEmpty else { return nil }
        let position = fields["position"] ?? "0-0"
        self.init(id: id, host: fields["host"] ?? "?", pid: Int(fields["pid"] ?? "") ?? 0, version: fields["version"] ?? "?",
                  mountpoint: fields["mountpoint"] ?? "", started: Double(fields["started"] ?? "") ?? 0,
                  heartbeat: Double(heartbeatMilliseconds) / 1000, heartbeatAgeMilliseconds: Int(max(0, now - heartbeatMilliseconds)),
                  sockets: Int(fields["sockets"] ?? "") ?? 0, position: position,
                  lagMilliseconds: Self.lag(position: position, last: lastLogID),
                  leader: leader == id, isSelf: id == selfID)
    }

    /// Milliseconds of log time between `position` and the newest entry `last`.
    static func lag(position: String, last: String) -> Int {
        guard RedisLog.compare(position, last) < 0 else { return 0 }
        func milliseconds(_ id: String) -> Int64 { Int64(id.split(separator: "-").first ?? "0") ?? 0 }
        return Int(max(0, milliseconds(last) - milliseconds(position)))
    }

    /// One line of `/ai/cluster`: a JSON object with sorted keys.
    public var jsonLine: String {
        var object: [String: Any] = [
            "id": id, "host": host, "pid": pid, "version": version, "mountpoint": mountpoint,
            "started": Self.rounded(started), "sockets": sockets, "leader": leader, "self": isSelf,
        ]
        object["heartbeat"] = heartbeat.map(Self.rounded) ?? NSNull()
        object["heartbeat_age_ms"] = heartbeatAgeMilliseconds ?? NSNull()
        object["position"] = position ?? NSNull()
        object["lag_ms"] = lagMilliseconds ?? NSNull()
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// Seconds to the millisecond.
    private static func rounded(_ seconds: Double) -> Double { (seconds * 1000).rounded() / 1000 }

    /// The text of `/ai/cluster`: one JSON line per daemon, in id order.
    public static func listing(_ members: [ClusterMember]) -> String {
        members.sorted { $0.id < $1.id }.map { $0.jsonLine + "\n" }.joined()
    }
}
