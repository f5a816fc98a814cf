import FuseKit

/// The rules for a socket's name: 1–64 bytes of `[A-Za-z0-9._-]`, not starting with `.`, and not
/// one of the names the root directory reserves.
public enum SocketName {
    public static let reserved: Set<String> = ["ctl", "models", "memory", "snapshots", "team-chat-all", "tools", "metrics", "events", "cluster", "directory"]
    public static let maxLength = 64

    /// Why `name` cannot name a socket, or nil if it can.
    public static func problem(with name: FileName) -> String? {
        let bytes = name.bytes
        if bytes.isEmpty { return "empty name" }
        if bytes.count > maxLength { return "name longer than \(maxLength) bytes" }
        if bytes.first == UInt8(ascii: ".") { return "name starts with '.'" }
        for byte in bytes {
            let ok = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            if !ok { return "name may only hold A-Z a-z 0-9 . _ -" }
        }
        if reserved.contains(name.string ?? "") { return "'\(name)' is reserved" }
        return nil
    }

    public static func isValid(_ name: String) -> Bool { problem(with: FileName(name)) == nil }
}
