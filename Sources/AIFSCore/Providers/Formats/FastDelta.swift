/// What one event means for the reply, as a fast path read it (`OpenAIFormat.fastDecode`,
/// `AnthropicFormat.fastDecode`): what the general decoder would give (`deltas`), with the texts
/// as the UTF-8 bytes a `ReplySink` takes, so the common events never become `String`s.
struct FastDelta: Equatable, Sendable {
    /// Reasoning text; empty for none.
    var reasoning: [UInt8] = []
    /// Reply text; empty for none.
    var text: [UInt8] = []
    /// The reply is complete.
    var done = false

    /// The same as `[StreamDelta]`, in the general decoders' order: reasoning, text, the end.
    var deltas: [StreamDelta] {
        var deltas: [StreamDelta] = []
        if !reasoning.isEmpty { deltas.append(.reasoning(String(decoding: reasoning, as: UTF8.self))) }
        if !text.isEmpty { deltas.append(.text(String(decoding: text, as: UTF8.self))) }
        if done { deltas.append(.done) }
        return deltas
    }
}

/// The members a fast path has read in one event, so that it declines a member that comes
/// twice (Foundation keeps the last; better not to depend on which).
struct SeenMembers {
    private var bits: UInt32 = 0

    /// True the first time for `member` (a bit), false after.
    mutating func first(_ member: UInt32) -> Bool {
        defer { bits |= member }
        return bits & member == 0
    }
}
