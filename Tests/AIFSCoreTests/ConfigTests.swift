@testable import AIFSCore
import Foundation
import Testing

/// The TOML layers, their checks and the catalog they build.
@Suite("configuration")
struct ConfigTests: ConfigParsing {
    static let examplePath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples/config.toml").path

    @Test("examples/config.toml loads, and its model ids are what /ai/models lists")
    func example() throws {
        let loaded = try ConfigLoader(environment: [:]).load(explicitFile: Self.examplePath, systemFile: "/nonexistent")
        let config = loaded.configuration
        #expect(config.defaultModel == "echo")
        #expect(config.modelIDs == ["echo", "echo/slow", "llm", "llm/gpt-4o-mini", "local", "local/llama3.2", "local/qwen2.5:7b"])
        #expect(config.providers["local"]?.baseURL == "http://127.0.0.1:11434/v1")
        #expect(config.providers["llm"]?.command == ["llm", "-m", "{model}"])
        #expect(config.socketTemplates["apollo"]?.model == "local/llama3.2")
        #expect(config.socketTemplates["apollo"]?.settings[.temperature] == "0.7")
        #expect(config.socketTemplates["apollo"]?.settings[.contextTokens] == "8000")
        #expect(config.snapshotInterval == 3600 && config.snapshotKeep == 24)
        let catalog = ModelCatalog.from(config)
        #expect(catalog.resolve("local")?.model == "llama3.2")
        #expect(catalog.resolve("llm/gpt-4o-mini")?.model == "gpt-4o-mini")
    }

    @Test("errors name the file, the line and the key")
    func errors() {
        #expect(error("[providers.x]\nkind = \"openai\"\nbas_url = \"http://h\"\n").hasPrefix("test.toml:3: providers.x.bas_url: unknown key"))
        #expect(error("[providers.x]\nkind = \"gemini\"\n") == "test.toml:2: providers.x.kind: 'gemini' is not a provider kind (openai, anthropic, exec)")
        #expect(error("[providers.x]\nkind = \"exec\"\n") == "test.toml:1: providers.x: an exec provider needs 'command'")
        #expect(error("[providers.x]\nkind = \"openai\"\nbase_url = \"ftp://h\"\n") == "test.toml:3: providers.x.base_url: 'ftp://h' is not an http(s) URL")
        #expect(error("[models]\ndefault = \"nope/x\"\n").hasPrefix("test.toml:2: models.default: 'nope/x' is not a configured model"))
        #expect(error("[memory]\nmax_age = \"soon\"\n").hasPrefix("test.toml:2: memory.max_age: must be a duration"))
        #expect(error("[sockets.a]\ntemperature = 5\n").hasPrefix("test.toml:2: sockets.a.temperature: temperature must be"))
        #expect(error("[bogus]\nx = 1\n").hasPrefix("test.toml:1: bogus: unknown table"))
        #expect(error("[sockets]\ncontext_tokens = -1\n").hasPrefix("test.toml:2: sockets.context_tokens: must be a whole number"))
        #expect(error("[sockets]\ncontext_tokens = 20000000\n").hasPrefix("test.toml:2: sockets.context_tokens: must be a whole number, 0 to"))
        #expect((try? parse("[sockets]\ncontext_tokens = 4096\n"))?.contextTokens == 4096)
        #expect((try? parse(""))?.contextTokens == Limits.standardContextTokens)
        #expect(error("[sockets]\ncompact_keep = 20000\n").hasPrefix("test.toml:2: sockets.compact_keep: must be a whole number, 1 to 10,000"))
        #expect(error("[sockets]\ncompact_model = 3\n").hasPrefix("test.toml:2: sockets.compact_model:"))
        #expect(error("[sockets]\ncompact_model = \"nope/x\"\n").contains("sockets.compact_model: 'nope/x' is not a configured model"))
        let compacting = try? parse("[sockets]\ncompact_keep = 6\ncompact_model = \"echo\"\n[sockets.s]\nauto-compact = 80\n")
        #expect(compacting?.compactKeep == 6 && compacting?.compactModel == "echo" && compacting?.socketTemplates["s"]?.settings[.autoCompact] == "80")
        #expect((try? parse(""))?.compactKeep == 4 && (try? parse(""))?.compactModel == nil)
        #expect(error("[sockets.s]\nauto-compact = 101\n").contains("auto-compact must be a percentage"))
        #expect(error("[providers.x\n").hasPrefix("test.toml:1: TOML syntax: "))
        #expect(error("[providers.echo]\nkind = \"exec\"\ncommand = [\"x\"]\n").hasPrefix("test.toml:1: providers.echo: echo is built in"))
        #expect(error("[providers.x]\nkind = \"openai\"\napi_key_env = \"sk-123 456\"\n").hasPrefix("test.toml:3: providers.x.api_key_env: "))
    }

    @Test("[store] journal_delay and [memory] index_delay: durations, defaults 5 ms and 50 ms, into the store's options")
    func deferredWriteDelays() throws {
        let defaults = try parse("")
        #expect(defaults.journalDelay == 0.005 && defaults.memoryIndexDelay == 0.05)
        let set = try parse("[store]\njournal_delay = \"1h\"\n[memory]\nindex_delay = 0.25\n")
        #expect(set.journalDelay == 3600 && set.memoryIndexDelay == 0.25)
        #expect(error("[store]\njournal_delay = \"later\"\n").hasPrefix("test.toml:2: store.journal_delay: must be a duration"))
        #expect(error("[memory]\nindex_delay = 0\n").hasPrefix("test.toml:2: memory.index_delay: must be a duration"))
        #expect(error("[memory]\nindex_dealy = 1\n").contains("unknown key (known: max_age, max_rows, index_delay)"))
    }

    @Test("[store] member_timeout (default 5 s, 1 s to 1 h) and checkpoint_entries (default 50,000, at least 100)")
    func clusterSettings() throws {
        #expect(try parse("").cluster == ClusterSettings(memberTimeout: 5, checkpointEntries: 50_000))
        let set = try parse("[store]\nmember_timeout = \"30s\"\ncheckpoint_entries = 1000\n")
        #expect(set.cluster.memberTimeout == 30 && set.cluster.checkpointEntries == 1000)
        #expect(error("[store]\nmember_timeout = 0.5\n").contains("store.member_timeout: 0.5 s is not between 1 s and 1 h"))
        #expect(error("[store]\ncheckpoint_entries = 10\n").contains("store.checkpoint_entries: must be a whole number, at least 100"))
        #expect(error("[store]\nmember_timout = 5\n").contains("unknown key (known: path, durability, journal_delay, backend, url, member_timeout, checkpoint_entries)"))
    }

    @Test("a literal key is ignored with a warning, louder when the file is readable by others")
    func literalKeys() throws {
        let dir = NSTemporaryDirectory() + "aifs-config-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let file = dir + "/config.toml"
        try "[providers.x]\nkind = \"openai\"\napi_key = \"sk-LITERAL\"\n".write(toFile: file, atomically: true, encoding: .utf8)
        chmod(file, 0o644)
        let loaded = try ConfigLoader(environment: [:]).load(explicitFile: file, systemFile: "/nonexistent")
        #expect(loaded.warnings.count == 1)
        #expect(loaded.warnings[0].contains("providers.x.api_key: a literal key is ignored"))
        #expect(loaded.warnings[0].contains("readable by others"))
        #expect(loaded.configuration.providers["x"]?.apiKeyEnv == nil)
        chmod(file, 0o600)
        let quiet = try ConfigLoader(environment: [:]).load(explicitFile: file, systemFile: "/nonexistent")
        #expect(!quiet.warnings[0].contains("readable by others"))
    }

    @Test("layers: system file, user file, environment; --config takes the user file's place")
    func layers() throws {
        let dir = NSTemporaryDirectory() + "aifs-layers-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: dir + "/xdg/aifs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "[providers.p]\nkind = \"openai\"\nmodels = [\"a\", \"b\"]\n[models]\ndefault = \"p/a\"\n[memory]\nmax_rows = 10\n"
            .write(toFile: dir + "/system.toml", atomically: true, encoding: .utf8)
        try "[models]\ndefault = \"p/b\"\n".write(toFile: dir + "/xdg/aifs/config.toml", atomically: true, encoding: .utf8)
        try "[models]\ndefault = \"echo/slow\"\n".write(toFile: dir + "/explicit.toml", atomically: true, encoding: .utf8)
        let loader = ConfigLoader(environment: ["XDG_CONFIG_HOME": dir + "/xdg", "AIFS_MEMORY_MAX_AGE": "2d"])
        let user = try loader.load(systemFile: dir + "/system.toml")
        #expect(user.files == [dir + "/system.toml", dir + "/xdg/aifs/config.toml"])
        #expect(user.configuration.defaultModel == "p/b")
        #expect(user.configuration.retention == RetentionPolicy(maxAge: 172_800, maxRows: 10))
        let explicit = try loader.load(explicitFile: dir + "/explicit.toml", systemFile: dir + "/system.toml")
        #expect(explicit.configuration.defaultModel == "echo/slow")
        let env = try ConfigLoader(environment: ["XDG_CONFIG_HOME": dir + "/xdg", "AIFS_DEFAULT_MODEL": "p/a"]).load(systemFile: dir + "/system.toml")
        #expect(env.configuration.defaultModel == "p/a")
        #expect(throws: ConfigError.self) { try loader.load(explicitFile: dir + "/missing.toml") }
    }

    @Test("an API key comes from the variable api_key_env names; a missing one fails requests clearly")
    func apiKeys() async throws {
        let config = try parse("[providers.o]\nkind = \"openai\"\napi_key_env = \"AIFS_TEST_KEY\"\nmodels = [\"m\"]\n")
        let provider = try #require(config.providers["o"])
        #expect(ConfigLoader(environment: ["AIFS_TEST_KEY": "sk-abc"]).apiKey(for: provider) == "sk-abc")
        #expect(ConfigLoader(environment: [:]).apiKey(for: provider) == nil)
        let catalog = ModelCatalog.from(config, loader: ConfigLoader(environment: [:]))
        let (http, _) = try #require(catalog.resolve("o/m"))
        do {
            try await http.respond(to: ProviderRequest(model: "m", systemPrompt: [], turns: [], settings: [:]), into: RecordingSink())
            Issue.record("expected a failure")
        } catch {
            #expect("\(error)" == "o: environment variable AIFS_TEST_KEY (api_key_env) is not set")
        }
    }
}
