import Foundation
import TOMLKit

/// `[limits]`: the sizes and counts a socket's files and the daemon accept.
extension TableReader {
    /// `[limits]`: each key sets one field of ``Configuration/limits``, with its own minimum.
    func readLimits(_ table: TOMLTable, into config: inout Configuration) throws(ConfigError) {
        for k in table.keys {
            let path = "limits.\(k)"
            switch k {
            case "message_bytes": config.limits.maxMessageBytes = try int(table, path, min: 1)
            case "queue": config.limits.maxQueue = try int(table, path, min: 1)
            case "sockets": config.limits.maxSockets = try int(table, path, min: 1)
            case "prompt_bytes": config.limits.maxPromptBytes = try int(table, path, min: 0)
            case "ctl_bytes": config.limits.maxControlBytes = try int(table, path, min: 64)
            case "ctl_line": config.limits.maxControlLine = try int(table, path, min: 16)
            case "reply_bytes": config.limits.maxReplyBytes = try int(table, path, min: 1)
            case "waiting_per_uid": config.limits.maxWaitingPerUID = try int(table, path, min: 1)
            default:
                throw error(path, "unknown key (known: message_bytes, queue, sockets, prompt_bytes, ctl_bytes, ctl_line, reply_bytes, waiting_per_uid)")
            }
        }
    }
}
