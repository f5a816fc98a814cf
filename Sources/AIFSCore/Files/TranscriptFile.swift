import FuseKit

/// `transcript`: every exchange with its headers, read at offsets like a regular file; it only
/// grows, with a true size and mtime, so `tail -f` follows it.
final class TranscriptFile: OpenFile {
    let socket: Socket
    init(socket: Socket) { self.socket = socket }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        request.reply(bytes: socket.readTranscript(offset: Int(clamping: offset), size: size))
    }
}
