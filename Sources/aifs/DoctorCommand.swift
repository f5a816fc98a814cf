import AIFSCore
import ArgumentParser
import Foundation
import Synchronization

/// `aifs doctor [--config FILE]`: checks what a mount needs — `/dev/fuse`, `fusermount3`, the
/// configuration — and sends one tiny request to every configured model provider, printing a
/// table of what works. Exits 1 if anything failed.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "doctor", abstract: "Check FUSE, the configuration and each provider.")

    @Option(help: "Configuration file (TOML), as for mount.")
    var config: String?

    @Option(help: "Seconds to wait for each provider.")
    var timeout: Double = 30

    func run() async throws {
        var rows: [[String]] = [["check", "result"]]
        var failed = false
        func add(_ check: String, _ ok: Bool, _ detail: String) {
            rows.append([check, (ok ? "ok" : "FAIL") + (detail.isEmpty ? "" : "  " + detail)])
            if !ok { failed = true }
        }
        let fuse = open("/dev/fuse", O_RDWR)
        add("/dev/fuse", fuse >= 0, fuse >= 0 ? "" : String(cString: strerror(errno)))
        if fuse >= 0 { close(fuse) }
        let fusermount = ["/usr/bin/fusermount3", "/bin/fusermount3"].first { FileManager.default.isExecutableFile(atPath: $0) }
        add("fusermount3", fusermount != nil, fusermount ?? "not found (apt-get install fuse3)")
        let loaded: LoadedConfiguration
        do {
            loaded = try ConfigLoader().load(explicitFile: config.map(RuntimePaths.absolute))
            add("configuration", true, loaded.files.isEmpty ? "built-in defaults" : loaded.files.joined(separator: ", "))
            for warning in loaded.warnings { add("  warning", true, warning) }
        } catch {
            add("configuration", false, "\(error)")
            print(Self.table(rows))
            throw ExitCode(1)
        }
        let catalog = ModelCatalog.from(loaded.configuration)
        var models = ["echo"]
        for name in loaded.configuration.providers.keys.sorted() {
            let provider = loaded.configuration.providers[name]!
            // A provider without `models` lists the server's: say what it lists, or why not,
            // and ask the first one listed unless a default model is configured.
            var listed: String?
            if let listing = catalog.provider(named: name)?.modelListing {
                switch await listing.fetch() {
                case .success(let found):
                    let shown = found.ids.prefix(5).joined(separator: ", ") + (found.ids.count > 5 ? ", …" : "")
                    add("models \(name)", true, "\(found.ids.count) listed: \(shown)")
                    listed = found.ids.first
                case .failure(let error):
                    add("models \(name)", false, "cannot list models: \(error.message)")
                }
            }
            if let bare = provider.bareModel, !(bare.isEmpty && listed != nil) { models.append(bare.isEmpty ? name : "\(name)/\(bare)") }
            else if let first = provider.models.first ?? listed { models.append("\(name)/\(first)") }
        }
        for id in models {
            guard let (provider, model) = catalog.resolve(id) else { continue }
            let started = ContinuousClock.now
            let sink = DoctorSink()
            let request = ProviderRequest(model: model, systemPrompt: [],
                                          turns: [Turn(role: .user, content: Array("Reply with the single word: ok".utf8))],
                                          settings: [.maxTokens: "16"])
            do {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { try await provider.respond(to: request, into: sink) }
                    group.addTask {
                        try await Task.sleep(for: .seconds(timeout))
                        throw CLIError("no reply within \(Int(timeout))s")
                    }
                    try await group.next()
                    group.cancelAll()
                }
                let ms = Int((ContinuousClock.now - started) / .milliseconds(1))
                add("model \(id)", true, "\(ms) ms: \(sink.text.prefix(40).replacingOccurrences(of: "\n", with: " "))")
            } catch {
                add("model \(id)", false, "\(error)")
            }
        }
        print(Self.table(rows))
        if failed { throw ExitCode(1) }
    }

    static func table(_ rows: [[String]]) -> String {
        let width = rows.map { $0[0].count }.max() ?? 0
        return rows.map { $0[0].padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0[1] }.joined(separator: "\n")
    }
}

/// Collects a doctor request's reply.
final class DoctorSink: ReplySink, Sendable {
    private let collected = Mutex<[UInt8]>([])
    func text(_ bytes: [UInt8]) { collected.withLock { $0 += bytes } }
    func reasoning(_ bytes: [UInt8]) {}
    func usage(input: Int, output: Int) {}
    func toolCall(_ call: ToolCallRequest) {}  // doctor offers no tools
    var text: String { collected.withLock { String(decoding: $0, as: UTF8.self) } }
}
