import FuseKit

/// What an `error` file reads: a socket's failure lines, or the team chat's.
protocol ErrorSource: AnyObject, Sendable {
    func readErrors(max size: Int) -> [UInt8]
}

/// `error` and `team-chat-all/error`: one line per failure, consumed by reading, never
/// blocking (end of file when there is nothing new).
final class ErrorFile: OpenFile {
    let source: any ErrorSource
    init(source: any ErrorSource) { self.source = source }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        request.reply(bytes: source.readErrors(max: size))
    }
}

extension Socket: ErrorSource {}
extension TeamChat: ErrorSource {}
