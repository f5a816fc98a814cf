/// The names of tools and of tool calls, as ctl lines and files spell them.
///
/// A tool is named by 1–64 of `a-z 0-9 _ -`. A call is named `MESSAGE.N`: the N-th tool call
/// (from 1) made while answering message MESSAGE of its socket, so `pending/3.1` is the first
/// call of message 3; `aifs approve` finds it on every socket (or takes `NAME/ID`).
public enum ToolName {
    static func isValid<S: StringProtocol>(_ name: S) -> Bool {
        !name.isEmpty && name.utf8.count <= 64 && name.utf8.allSatisfy { b in
            (b >= 0x61 && b <= 0x7A) || (b >= 0x30 && b <= 0x39) || b == 0x5F || b == 0x2D
        }
    }

    /// The id of the `number`-th call of message `message`.
    static func callID(message: UInt64, number: Int) -> String { "\(message).\(number)" }

    /// A call id as written in a ctl line, checked (`MESSAGE.N`, both whole numbers).
    static func callID(_ text: String) throws(ControlError) -> String {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2, let message = UInt64(parts[0]), let number = UInt64(parts[1]), message > 0, number > 0 else {
            throw ControlError("'\(text.prefix(40))' is not a tool call id (MESSAGE.N, as in pending/)")
        }
        return "\(message).\(number)"
    }
}
