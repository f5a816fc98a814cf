/// What a `write` tool call replaced: the file (an absolute path) and its content before (nil:
/// the file did not exist), kept in the store for `undo ID`.
public struct UndoRecord: Sendable, Equatable {
    public var path: String
    public var previous: [UInt8]?

    public init(path: String, previous: [UInt8]?) {
        self.path = path
        self.previous = previous
    }
}
