@testable import AIFSCore

/// What every configuration suite does with TOML text: parse it as the file `test.toml`, or
/// read the error it gets.
protocol ConfigParsing {}

extension ConfigParsing {
    func parse(_ text: String) throws(ConfigError) -> Configuration {
        try ConfigLoader.parse(text, file: "test.toml").configuration
    }

    /// The error `text` gets, as the user reads it; "no error" when it parses.
    func error(_ text: String) -> String {
        do {
            _ = try parse(text)
            return "no error"
        } catch {
            return error.description
        }
    }
}
