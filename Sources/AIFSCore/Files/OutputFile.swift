import FuseKit

/// What an `output` file reads: a socket's replies, or the team chat's blocks.
protocol ReplySource: AnyObject, Sendable {
    func readOutput(_ request: consuming Request, size: Int, nonBlocking: Bool)
    func pollOutput(owner: AnyObject, handle: PollHandle?) -> PollEvents
    func forgetPoll(owner: AnyObject)
}

/// `output` and `team-chat-all/output`: consumed reads that block while a reply is pending and
/// end (EOF) when nothing is. `EAGAIN` with `O_NONBLOCK` while pending, `EINTR` when the reader
/// is interrupted while parked, `EIO` once after a failed request and at unmount. The
/// descriptor itself only keys its poll registration.
final class OutputFile: OpenFile {
    let source: any ReplySource
    init(source: any ReplySource) { self.source = source }

    override func read(_ request: consuming Request, size: Int, offset: Int64, info: FileInfo) {
        source.readOutput(request, size: size, nonBlocking: info.isNonBlocking)
    }

    override func poll(_ request: consuming Request, handle: PollHandle?) {
        request.reply(poll: source.pollOutput(owner: self, handle: handle))
    }

    override func release() {
        source.forgetPoll(owner: self)
    }
}

extension Socket: ReplySource {}
extension TeamChat: ReplySource {}
