import Foundation

/// Finds the line of a dotted key in TOML text (TOMLKit gives no positions for keys): follows
/// `[table]` headers and `key =` lines, dotted and quoted keys included.
struct KeyLocator {
    private var lineOfKey: [String: Int] = [:]

    init(text: String) {
        var prefix = ""
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("#") || line.isEmpty { continue }
            if line.hasPrefix("[") {
                let inner = line.trimmingCharacters(in: CharacterSet(charactersIn: "[]")).split(separator: "#").first ?? ""
                prefix = Self.normalize(String(inner))
                if lineOfKey[prefix] == nil { lineOfKey[prefix] = index + 1 }
                continue
            }
            guard let equals = line.firstIndex(of: "=") else { continue }
            let key = Self.normalize(String(line[..<equals]))
            let full = prefix.isEmpty ? key : prefix + "." + key
            if lineOfKey[full] == nil { lineOfKey[full] = index + 1 }
        }
    }

    static func normalize(_ key: String) -> String {
        key.split(separator: ".").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "\"'")) }
            .joined(separator: ".")
    }

    /// The line of `key`, or of the nearest enclosing table that has one.
    func line(of key: String) -> Int? {
        var parts = key.split(separator: ".").map(String.init)
        while !parts.isEmpty {
            if let line = lineOfKey[parts.joined(separator: ".")] { return line }
            parts.removeLast()
        }
        return nil
    }
}
