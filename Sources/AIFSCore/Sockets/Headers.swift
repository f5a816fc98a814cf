/// The header protocol: leading `[token]`s a *user* may put at the start of a message.
///
/// Only the start of a message written into the mount is parsed; text a model produces never is.
/// Recognised: `[priority-high]` and `[team-chat-to-NAME]` (names as for sockets). Parsing stops
/// at the first token that is not one of these, and everything from there is content, unchanged
/// (so `[note] hi` is content, and so is a header after content).
public struct MessageHeaders: Equatable, Sendable {
    public var priorityHigh = false
    public var recipients: [String] = []

    public init(priorityHigh: Bool = false, recipients: [String] = []) {
        self.priorityHigh = priorityHigh
        self.recipients = recipients
    }

    /// Splits `message` into its leading headers and the content after them. Spaces or tabs
    /// between headers, and one space or newline after the last, are part of the headers.
    /// `recipients`: whether `[team-chat-to-NAME]` is a header here (only in `team-chat-all/input`;
    /// in a socket's own `input` it is content).
    public static func parse(_ message: [UInt8], recipients allowRecipients: Bool = true) -> (headers: MessageHeaders, content: [UInt8]) {
        var headers = MessageHeaders()
        var index = 0
        var contentStart = 0
        while true {
            var i = index
            while i < message.count, message[i] == 0x20 || message[i] == 0x09 { i += 1 }
            guard i < message.count, message[i] == UInt8(ascii: "[") else { break }
            guard let close = message[i...].firstIndex(of: UInt8(ascii: "]")), close - i <= 100 else { break }
            guard let token = String(validating: message[(i + 1)..<close], as: UTF8.self) else { break }
            if token == "priority-high" {
                headers.priorityHigh = true
            } else if allowRecipients, token.hasPrefix("team-chat-to-"), SocketName.isValid(String(token.dropFirst("team-chat-to-".count))) {
                headers.recipients.append(String(token.dropFirst("team-chat-to-".count)))
            } else {
                break
            }
            index = close + 1
            contentStart = index
        }
        if contentStart > 0, contentStart < message.count,
           message[contentStart] == 0x20 || message[contentStart] == 0x0A {
            contentStart += 1
        }
        return (headers, contentStart == 0 ? message : Array(message[contentStart...]))
    }
}
