import Foundation

/// The `key: value` lines that `/ai/ctl` and each socket's `ctl` read as, in their order.
struct CtlText {
    let pairs: [(key: String, value: String)]

    init(_ text: String) {
        pairs = text.split(separator: "\n").compactMap { line in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let key = line[..<colon].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            return key.isEmpty ? nil : (key, value)
        }
    }

    subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    /// For JSON: whole numbers become numbers, `-` (nothing) becomes null, the rest stays text.
    /// Keys of two words, `KIND NAME`, are gathered by kind: `provider echo: ok` becomes
    /// `"provider": {"echo": "ok"}`.
    var jsonObject: [String: Any] {
        var object: [String: Any] = [:]
        var groups: [String: [String: Any]] = [:]
        for (key, value) in pairs {
            let converted: Any = value == "-" ? NSNull() : (Int(value).map { $0 as Any } ?? value)
            let words = key.split(separator: " ", maxSplits: 1)
            if words.count == 2 {
                groups[String(words[0]), default: [:]][String(words[1])] = converted
            } else {
                object[key] = converted
            }
        }
        for (kind, members) in groups where object[kind] == nil { object[kind] = members }
        return object
    }
}
