import Foundation

/// Where the durable store lives and how it behaves.
public struct StoreOptions: Sendable, Equatable {
    /// How hard a commit works to survive a crash.
    public enum Durability: String, Sendable {
        /// WAL with `synchronous=NORMAL`: a commit survives the daemon being killed (`kill -9`,
        /// a crash); a power loss may lose the last commits. The default.
        case process
        /// `synchronous=FULL`: every commit is fsynced, surviving a power loss too.
        case power
    }

    public var path: String
    public var durability: Durability
    public var retention: RetentionPolicy
    /// `[memory] index_delay`: seconds of idle after which committed memories are indexed for
    /// search (a search, or 256 waiting rows, index them at once). See ``MemoryIndexer``.
    public var memoryIndexDelay: Double
    /// `[store] journal_delay`: seconds of idle after which committed batches are written from
    /// the journal into the tables (32 waiting batches, or any other change, do it at once).
    /// See ``Journal``.
    public var journalDelay: Double

    public init(path: String, durability: Durability = .process, retention: RetentionPolicy = RetentionPolicy(),
                memoryIndexDelay: Double = StoreOptions.standardIndexDelay,
                journalDelay: Double = StoreOptions.standardJournalDelay) {
        self.path = path
        self.durability = durability
        self.retention = retention
        self.memoryIndexDelay = memoryIndexDelay
        self.journalDelay = journalDelay
    }

    /// The default `[store] journal_delay`: 5 ms.
    public static let standardJournalDelay = 0.005

    /// The default `[memory] index_delay`: 50 ms.
    public static let standardIndexDelay = 0.05

    /// `$XDG_DATA_HOME/aifs/aifs.db`, with `XDG_DATA_HOME` defaulting to `~/.local/share`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        var base = environment["XDG_DATA_HOME"] ?? ""
        if base.isEmpty || !base.hasPrefix("/") {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            base = home + "/.local/share"
        }
        return base + "/aifs/aifs.db"
    }
}

/// How long memories are kept (`memory.max_age`, `memory.max_rows`). Default: everything,
/// forever. Pruning runs in small steps between write batches, never holding up a commit for long.
public struct RetentionPolicy: Sendable, Equatable {
    /// Memories older than this many seconds are deleted.
    public var maxAge: Double?
    /// Only the newest this many memories are kept.
    public var maxRows: Int?

    public init(maxAge: Double? = nil, maxRows: Int? = nil) {
        self.maxAge = maxAge
        self.maxRows = maxRows
    }

    public var keepsEverything: Bool { maxAge == nil && maxRows == nil }

    /// Parses a duration such as `90`, `90s`, `15m`, `12h`, `30d`, `2w` into seconds.
    public static func parseDuration(_ text: String) -> Double? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard let last = trimmed.last else { return nil }
        let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
        let (number, unit) = units[last].map { (String(trimmed.dropLast()), $0) } ?? (trimmed, 1)
        guard let value = Double(number), value > 0, value.isFinite else { return nil }
        return value * unit
    }
}
