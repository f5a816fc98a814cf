import Foundation
import GRDB

/// How records and lists are stored in columns (JSON written by hand where a message commits
/// it), and which socket an event belongs to.
extension BatchWriter {
    /// The record's settings as the `settings` column holds them.
    static func settingsJSON(_ r: SocketRecord) -> String {
        var settings: [String: String] = [:]
        for (key, value) in r.settings { settings[key.rawValue] = value }
        return jsonObject(settings)
    }

    static func values(_ r: SocketRecord) -> [(any DatabaseValueConvertible)?] {
        [Int64(r.id), r.name, r.model, r.life.rawValue, r.headers, settingsJSON(r), Data(r.prompt), r.created,
                r.lastActivity, Int64(r.uid), Int64(r.gid), Int64(r.mode), r.messages, r.tokensIn, r.tokensOut,
                Int64(r.nextMessageID), r.wire]
    }

    static func arguments(_ r: SocketRecord) -> StatementArguments {
        StatementArguments(values(r))
    }

    /// A JSON object with sorted keys, written by hand: it is in every commit of a message, and
    /// Foundation's serializer cost 4 % of the writer's time.
    static func jsonObject(_ object: [String: String]) -> String {
        var out = JSONBytes(capacity: 128)
        out.raw("{")
        for (index, entry) in object.sorted(by: { $0.key < $1.key }).enumerated() {
            if index > 0 { out.raw(",") }
            out.string(entry.key)
            out.raw(":")
            out.string(entry.value)
        }
        out.raw("}")
        return String(decoding: out.bytes, as: UTF8.self)
    }

    static func jsonArray(_ array: [String]) -> String {
        var out = JSONBytes(capacity: 64)
        out.raw("[")
        for (index, item) in array.enumerated() {
            if index > 0 { out.raw(",") }
            out.string(item)
        }
        out.raw("]")
        return String(decoding: out.bytes, as: UTF8.self)
    }

    static func json(_ value: Any) -> String {
        let data = (try? JSONSerialization.data(withJSONObject: value, options: [.sortedKeys])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

extension StoreEvent {
    /// The socket whose stored state the event changes, if any.
    var socket: SocketID? {
        switch self {
        case .socketCreated(let r), .socketSaved(let r): return r.id
        case .messageQueued(let id, _), .requestStarted(let id, _), .requestEnded(let id, _), .queueCleared(let id),
             .transcriptAppended(let id, _), .contextAppended(let id, _), .contextCleared(let id), .contextTrimmed(let id, _),
             .streamAppended(let id, _, _, _, _), .streamRead(let id, _, _), .historyAppended(let id, _), .historyCleared(let id),
             .undoSaved(let id, _, _):
            return id
        case .socketRemoved, .memory, .teamSaved, .teamStreamAppended, .teamStreamRead, .snapshotTaken, .snapshotDeleted,
             .snapshotRestored, .clusterPosition:
            return nil
        }
    }
}
