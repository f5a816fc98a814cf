/// One change to a socket's durable state, as the store receives it.
///
/// Events carry values, not references: the store never reads live socket state. Events of
/// one socket arrive in the order they happened; `socketSaved` and `streamRead` describe a
/// latest state, so the store may keep only the last one of a batch.
public enum StoreEvent: Sendable {
    /// A new socket (also what `load` brings back as its record).
    case socketCreated(SocketRecord)
    /// Settings, prompt, counters, name or ownership changed: the whole record, newest wins.
    case socketSaved(SocketRecord)
    /// The socket and everything of it goes (its memories stay).
    case socketRemoved(SocketID)
    /// A message accepted from `input`, queued until its request ends.
    case messageQueued(SocketID, InputMessage)
    /// The message is the request in flight (after a restart it is answered again).
    case requestStarted(SocketID, messageID: UInt64)
    /// The message is answered, failed or cancelled: it leaves the queue.
    case requestEnded(SocketID, messageID: UInt64)
    /// Every queued message is dropped (`reset`).
    case queueCleared(SocketID)
    /// Bytes appended to `transcript`.
    case transcriptAppended(SocketID, [UInt8])
    /// Turns appended to the conversation context.
    case contextAppended(SocketID, [Turn])
    /// The conversation context is emptied (`reset`).
    case contextCleared(SocketID)
    /// The oldest `count` turns of the context are dropped (`context-tokens`).
    case contextTrimmed(SocketID, count: Int)
    /// Turns appended to the conversation's whole history (places in the transcript).
    case historyAppended(SocketID, [HistoryEntry])
    /// The history is emptied (`reset`).
    case historyCleared(SocketID)
    /// Bytes appended to `output` or `error` at absolute position `start`; with `failureAfter`,
    /// a failure mark (`EIO` once) follows them.
    case streamAppended(SocketID, StreamKind, start: Int, bytes: [UInt8], failureAfter: Bool)
    /// Readers consumed the stream up to `position` (and the failure mark there, if `pastMark`).
    case streamRead(SocketID, StreamKind, StreamCursor)
    /// One entry for memory search.
    case memory(MemoryEntry)
    /// What a `write` tool call replaced, kept for `undo ID` (nil: the record goes, undone).
    case undoSaved(SocketID, callID: String, record: UndoRecord?)
    /// The team chat's settings (`team-chat-all/ctl`): newest wins.
    case teamSaved(TeamSettings)
    /// Bytes appended to `team-chat-all/output` or `error` at absolute position `start`.
    case teamStreamAppended(StreamKind, start: Int, bytes: [UInt8])
    /// Readers consumed the team stream up to `position`.
    case teamStreamRead(StreamKind, position: Int)
    /// Take a snapshot of everything recorded so far (the ticket gets the result).
    case snapshotTaken(SnapshotTicket)
    /// Delete the snapshot of that name (and what only it used).
    case snapshotDeleted(String)
    /// Rewrite live sockets from a snapshot (the ticket gets the result).
    case snapshotRestored(RestoreTicket)
    /// The Redis backend applied the shared log up to this id (kept with what it produced).
    case clusterPosition(String)
}

/// The two consumable streams of a socket.
public enum StreamKind: String, Sendable {
    case output
    case error
}

/// How far readers have consumed a stream: an absolute byte position, and whether the failure
/// mark standing exactly there (if any) was consumed too. Ordered, so the newest is the largest.
public struct StreamCursor: Sendable, Comparable, Equatable {
    public var position: Int
    public var pastMark: Bool
    public init(position: Int, pastMark: Bool) {
        self.position = position
        self.pastMark = pastMark
    }
    public static func < (a: StreamCursor, b: StreamCursor) -> Bool {
        (a.position, a.pastMark ? 1 : 0) < (b.position, b.pastMark ? 1 : 0)
    }
}

/// Everything about a socket that is not a queue or a stream.
public struct SocketRecord: Sendable, Equatable {
    public var id: SocketID
    public var name: String
    public var model: String
    public var life: SocketState
    public var headers: Bool
    public var settings: [Setting: String]
    public var prompt: [UInt8]
    public var created: Double
    public var lastActivity: Double
    public var uid: UInt32
    public var gid: UInt32
    public var mode: UInt32
    public var messages: Int
    public var tokensIn: Int
    public var tokensOut: Int
    public var nextMessageID: UInt64
    /// The name of the socket this one is wired to, or "".
    public var wire: String = ""
}

/// A socket as the store brings it back: its record, context, queue and unread streams.
public struct SocketSnapshot: Sendable {
    public var record: SocketRecord
    public var context: [Turn] = []
    /// The conversation's whole history since its last reset (see ``History``).
    public var history: [HistoryEntry] = []
    /// What its `write` tool calls replaced, by call id (`undo ID`), as the store keeps them
    /// (``StoreEvent/undoSaved(_:callID:record:)``). Brought back by `load` and `loadSockets`;
    /// not in snapshots (a restored socket has the records its live rows had, or none).
    public var undoRecords: [String: UndoRecord] = [:]
    /// Queued messages in the order they are answered; `interrupted` is the one that was in
    /// flight when the daemon stopped (its partial reply was not kept).
    public var queue: [InputMessage] = []
    public var interrupted: UInt64?
    public var output = RestoredStream()
    public var errors = RestoredStream()
    public var transcript: [UInt8] = []
    public var transcriptModified: Double = 0
    public init(record: SocketRecord) { self.record = record }
}

/// The team chat as the store brings it back: its settings and unread streams.
public struct TeamSnapshot: Sendable {
    public var settings = TeamSettings()
    public var output = RestoredStream()
    public var errors = RestoredStream()
    public init() {}
}

/// The unread part of a stream: its bytes from position 0, and failure marks (positions).
public struct RestoredStream: Sendable, Equatable {
    public var bytes: [UInt8] = []
    public var failureMarks: [Int] = []
    public init(bytes: [UInt8] = [], failureMarks: [Int] = []) {
        self.bytes = bytes
        self.failureMarks = failureMarks
    }
}
