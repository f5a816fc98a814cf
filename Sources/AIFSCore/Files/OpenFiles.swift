import FuseKit

/// One open descriptor's state (acme: one cursor per open file). FuseKit hands the object back
/// with every request on that descriptor and drops it after `release`.
class OpenFile {}

/// A message being written on one descriptor (`input`, `team-chat-all/input`).
protocol MessageDraft: AnyObject {
    var buffer: [UInt8] { get set }
    /// Once a write failed (`EFBIG`), the whole message is refused.
    var failure: Errno? { get set }
}

extension MessageDraft {
    /// Whether adding `count` bytes would pass `limit`; if so the message is dropped and
    /// every later write and the close fail with `EFBIG`.
    func overflows(adding count: Int, limit: Int) -> Bool {
        guard buffer.count + count > limit else { return false }
        failure = .EFBIG
        buffer = []
        return true
    }
}

/// `input`: the bytes of one message, committed at the first flush that has any.
final class InputFile: OpenFile, MessageDraft {
    let socket: Socket
    let uid: UInt32
    var buffer: [UInt8] = []
    /// Once a write failed (`EFBIG`), the whole message is refused.
    var failure: Errno?
    init(socket: Socket, uid: UInt32) {
        self.socket = socket
        self.uid = uid
    }
}

/// `output`: the stream; holds nothing but the poll registration key.
final class OutputFile: OpenFile {
    let socket: Socket
    init(socket: Socket) { self.socket = socket }
}

/// `error`: consuming reads, never blocking.
final class ErrorFile: OpenFile {
    let socket: Socket
    init(socket: Socket) { self.socket = socket }
}

/// `transcript`: regular-file reads at offsets.
final class TranscriptFile: OpenFile {
    let socket: Socket
    init(socket: Socket) { self.socket = socket }
}

/// A generated text taken at open (`ctl`, `/ai/ctl`, `/ai/models`), plus the command bytes
/// written so far on this descriptor that do not yet end in a newline.
final class ControlFile: OpenFile {
    let socket: Socket?
    let text: [UInt8]
    var pending: [UInt8] = []
    /// Who opened it (a `fork` belongs to them, as a `mkdir` would).
    let caller: (uid: UInt32, gid: UInt32)
    init(socket: Socket?, text: String, caller: (uid: UInt32, gid: UInt32) = (0, 0)) {
        self.socket = socket
        self.text = Array(text.utf8)
        self.caller = caller
    }
}

/// `prompt`: a private copy edited with regular-file semantics, stored at flush if changed.
final class PromptFile: OpenFile {
    let socket: Socket
    var buffer: [UInt8]
    var dirty: Bool
    init(socket: Socket, truncate: Bool) {
        self.socket = socket
        self.buffer = truncate ? [] : socket.prompt
        self.dirty = truncate
    }
}

/// `chat`: the message written on this descriptor (sent at the first read, or at close) and
/// the private stream its reply comes back on.
final class ChatFile: OpenFile {
    let socket: Socket
    let uid: UInt32
    let stream = ChatStream()
    var buffer: [UInt8] = []
    var sent = false
    /// How the message is sent (with the Redis backend, through the log).
    let send: ([UInt8], UInt32, ChatStream) -> Errno?
    init(socket: Socket, uid: UInt32, send: (([UInt8], UInt32, ChatStream) -> Errno?)? = nil) {
        self.socket = socket
        self.uid = uid
        self.send = send ?? { [socket] bytes, uid, stream in socket.submitChat(bytes, uid: uid, into: stream) }
    }

    /// Sends the message if it has not gone yet; nil, or why it was refused.
    func sendIfNeeded() -> Errno? {
        guard !sent else { return nil }
        sent = true
        guard !buffer.isEmpty else {
            stream.finish()
            return nil
        }
        defer { buffer = [] }
        if let error = send(buffer, uid, stream) {
            stream.finish()
            return error
        }
        return nil
    }
}

/// `team-chat-all/input`: the bytes of one team message, sent at the first flush that has any.
final class TeamInputFile: OpenFile, MessageDraft {
    let caller: Caller
    var buffer: [UInt8] = []
    var failure: Errno?
    init(caller: Caller) { self.caller = caller }
}

/// `team-chat-all/output`: the stream; holds nothing but the poll registration key.
final class TeamOutputFile: OpenFile {}

/// `team-chat-all/error`: consuming reads, never blocking.
final class TeamErrorFile: OpenFile {}

/// `team-chat-all/ctl`: its text taken at open, and command bytes not yet ending in a newline.
final class TeamControlFile: OpenFile {
    let text: [UInt8]
    var pending: [UInt8] = []
    init(text: String) { self.text = Array(text.utf8) }
}

/// An open directory: its listing, taken once at `opendir` so offsets are stable.
final class DirectoryListing: OpenFile {
    let entries: [DirectoryEntry]
    init(entries: [DirectoryEntry]) { self.entries = entries }
}

extension Array where Element == UInt8 {
    /// `size` bytes from `offset`, for regular-file reads of generated text.
    func slice(offset: Int64, size: Int) -> [UInt8] {
        let start = Int(clamping: offset)
        guard start < count else { return [] }
        return Array(self[start..<Swift.min(count, start + size)])
    }
}
