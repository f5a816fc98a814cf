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
    /// Keys of the form `provider NAME` are gathered under `providers`.
    var jsonObject: [String: Any] {
        var object: [String: Any] = [:]
        var providers: [String: Any] = [:]
        for (key, value) in pairs {
            let converted: Any = value == "-" ? NSNull() : (Int(value).map { $0 as Any } ?? value)
            if key.hasPrefix("provider ") {
                providers[String(key.dropFirst("provider ".count))] = converted
            } else {
                object[key] = converted
            }
        }
        if !providers.isEmpty { object["providers"] = providers }
        return object
    }
}
