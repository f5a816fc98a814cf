@testable import AIFSCore
import Foundation
import Testing

/// `[security]` and `[tools]`: defaults, good values, and an error naming file, line and key
/// for each bad one.
extension ConfigTests {
    @Test("[security] and [tools] default to normal mode, the built-in patterns, 30 s and 64 KiB")
    func toolDefaults() throws {
        let config = try parse("")
        #expect(config.security == SecurityConfig())
        #expect(config.security.mode == .normal && config.security.confirmTimeout == 600 && config.security.allow.isEmpty)
        #expect(config.security.dangerousPatterns == SecurityConfig.defaultDangerousPatterns)
        #expect(config.security.requireConfirm == SecurityConfig.defaultRequireConfirm)
        #expect(config.tools == ToolSettings())
        #expect(config.tools.timeout == 30 && config.tools.maxOutput == 65536 && config.tools.userTools.isEmpty)
        let example = try ConfigLoader(environment: [:]).load(explicitFile: Self.examplePath, systemFile: "/nonexistent").configuration
        #expect(example.security == SecurityConfig() && example.tools == ToolSettings())
    }

    @Test("[security]: mode, pattern lists that replace the defaults, confirm_timeout")
    func securityValues() throws {
        let config = try parse("""
            [security]
            mode = "paranoid"
            dangerous_patterns = ["^danger"]
            require_confirm = []
            allow = ['^ls(\\s|$)', "^read "]
            confirm_timeout = "2m"
            """)
        #expect(config.security.mode == .paranoid)
        #expect(config.security.dangerousPatterns == ["^danger"])
        #expect(config.security.requireConfirm == [])
        #expect(config.security.allow == [#"^ls(\s|$)"#, "^read "])
        #expect(config.security.confirmTimeout == 120)
        let policy = try ToolPolicy(config.security)
        #expect(policy.judge(subject: "ls -l", mode: config.security.mode) == .confirm("paranoid mode: every call is confirmed"))
        for mode in SecurityMode.allCases {
            #expect((try? parse("[security]\nmode = \"\(mode.rawValue)\"\n"))?.security.mode == mode)
        }
    }

    @Test("[security] errors name the file, the line and the key")
    func securityErrors() {
        #expect(error("[security]\nmode = \"strict\"\n") == "test.toml:2: security.mode: 'strict' is not a mode (safe, normal, paranoid, trusted)")
        #expect(error("[security]\nmode = 1\n") == "test.toml:2: security.mode: must be a string")
        #expect(error("[security]\n\nallow = [\"ok\", \"a(b\"]\n") == "test.toml:3: security.allow: 'a(b' is not a regular expression")
        #expect(error("[security]\ndangerous_patterns = [\"[x\"]\n") == "test.toml:2: security.dangerous_patterns: '[x' is not a regular expression")
        #expect(error("[security]\nrequire_confirm = \"sudo\"\n") == "test.toml:2: security.require_confirm: must be an array of strings")
        #expect(error("[security]\nrequire_confirm = [1]\n") == "test.toml:2: security.require_confirm: must be an array of strings")
        #expect(error("[security]\nconfirm_timeout = 0\n").hasPrefix("test.toml:2: security.confirm_timeout: must be a duration"))
        #expect(error("[security]\nconfirm_timeout = \"soon\"\n").hasPrefix("test.toml:2: security.confirm_timeout: must be a duration"))
        #expect(error("[security]\nmod = \"safe\"\n")
                == "test.toml:2: security.mod: unknown key (known: mode, dangerous_patterns, require_confirm, allow, confirm_timeout)")
        #expect(error("security = 1\n").hasPrefix("test.toml:1: security: must be a table"))
        #expect(error("[bogus]\n").contains("known: models, providers, sockets, store, memory, snapshots, events, limits, security, tools, metrics, agents)"))
    }

    @Test("[tools]: defaults for every tool whatever the key order, and user tools with their schema as sorted JSON")
    func toolValues() throws {
        let config = try parse("""
            [tools.weather]
            description = "The weather of a city."
            command = ["curl", "-s", "wttr.in/{city}"]
            max_output = 100
            [tools.weather.parameters]
            type = "object"
            required = ["city"]
            properties = { city = { type = "string", description = "A city" }, days = { type = "integer" } }
            [tools.echo-json]
            description = "Echo."
            command = ["cat"]
            timeout = "2m"
            """)
        let weather = try #require(config.tools.userTools["weather"])
        #expect(weather.name == "weather" && weather.description == "The weather of a city.")
        #expect(weather.kind == .command(["curl", "-s", "wttr.in/{city}"]))
        #expect(weather.parameters == #"{"properties":{"city":{"description":"A city","type":"string"},"days":{"type":"integer"}},"required":["city"],"type":"object"}"#)
        #expect(weather.timeout == 30 && weather.maxOutput == 100)
        let echo = try #require(config.tools.userTools["echo-json"])
        #expect(echo.parameters == #"{"properties":{},"type":"object"}"#)
        #expect(echo.timeout == 120 && echo.maxOutput == 65536)

        // `zz` sorts after `timeout` and `max_output`, `aa` before: both take the [tools] values.
        let ordered = try parse("""
            [tools]
            timeout = 7
            max_output = 2048
            [tools.aa]
            description = "A."
            command = ["a"]
            [tools.zz]
            description = "Z."
            command = ["z"]
            timeout = 9
            """)
        #expect(ordered.tools.timeout == 7 && ordered.tools.maxOutput == 2048)
        #expect(ordered.tools.userTools["aa"]?.timeout == 7 && ordered.tools.userTools["aa"]?.maxOutput == 2048)
        #expect(ordered.tools.userTools["zz"]?.timeout == 9 && ordered.tools.userTools["zz"]?.maxOutput == 2048)
        let catalog = ToolCatalog(settings: ordered.tools)
        #expect(catalog.all.map(\.name) == ["bash", "read", "write", "list", "ask", "aa", "zz"])
        #expect(catalog.tool(named: "bash")?.timeout == 7)
        #expect(try ToolArguments.check(#"{"city":"Oslo"}"#, schema: weather.parameters)["city"] as? String == "Oslo")
    }

    @Test("[tools] errors name the file, the line and the key")
    func toolErrors() {
        let tool = "[tools.t]\ndescription = \"T.\"\ncommand = [\"t\"]\n"
        #expect(error("[tools]\ntimeout = 0\n").hasPrefix("test.toml:2: tools.timeout: must be a duration"))
        #expect(error("[tools]\ntimeout = \"2d\"\n") == "test.toml:2: tools.timeout: must be at most 86400 seconds (\"1d\")")
        #expect((try? parse("[tools]\ntimeout = \"1d\"\n"))?.tools.timeout == 86400)
        #expect(error("[tools]\nmax_output = 0\n") == "test.toml:2: tools.max_output: must be a whole number of bytes, 1 to 16777216 (16 MiB)")
        #expect(error("[tools]\nmax_output = 16777217\n").hasPrefix("test.toml:2: tools.max_output: must be a whole number of bytes"))
        #expect((try? parse("[tools]\nmax_output = 16777216\n"))?.tools.maxOutput == 16_777_216)
        #expect(error("[tools]\ntimout = 5\n") == "test.toml:2: tools.timout: unknown key (known: timeout, max_output, and a table [tools.NAME] per tool)")
        #expect(error("[tools.bash]\ndescription = \"B.\"\ncommand = [\"b\"]\n")
                == "test.toml:1: tools.bash: bash is built in and cannot be redefined (built in: bash, read, write, list, ask)")
        #expect(error("[tools.Big]\ndescription = \"B.\"\ncommand = [\"b\"]\n") == "test.toml:1: tools.Big: a tool name is 1–64 of a-z 0-9 _ -")
        #expect(error("[tools.\(String(repeating: "a", count: 65))]\ndescription = \"B.\"\ncommand = [\"b\"]\n").contains("a tool name is 1–64"))
        #expect((try? parse("[tools.\(String(repeating: "a", count: 64))]\ndescription = \"B.\"\ncommand = [\"b\"]\n"))?.tools.userTools.count == 1)
        #expect(error("[tools.t]\ncommand = [\"t\"]\n") == "test.toml:1: tools.t: missing 'description' (what the tool does, for the model)")
        #expect(error("[tools.t]\ndescription = \"T.\"\n").hasPrefix("test.toml:1: tools.t: missing 'command'"))
        #expect(error("[tools.t]\ndescription = \"T.\"\ncommand = []\n") == "test.toml:3: tools.t.command: must name a program")
        #expect(error("[tools.t]\ndescription = \"T.\"\ncommand = \"t\"\n") == "test.toml:3: tools.t.command: must be an array of strings")
        #expect(error("[tools.t]\ndescription = 5\ncommand = [\"t\"]\n") == "test.toml:2: tools.t.description: must be a string")
        #expect(error(tool + "timeout = -1\n").hasPrefix("test.toml:4: tools.t.timeout: must be a duration"))
        #expect(error(tool + "timeout = 90000\n").hasPrefix("test.toml:4: tools.t.timeout: must be at most 86400"))
        #expect(error(tool + "max_output = 99999999\n").hasPrefix("test.toml:4: tools.t.max_output: must be a whole number of bytes"))
        #expect(error(tool + "shell = true\n") == "test.toml:4: tools.t.shell: unknown key (known: description, parameters, command, timeout, max_output)")
        #expect(error(tool + "parameters = \"{}\"\n") == "test.toml:4: tools.t.parameters: must be a table")
        #expect(error(tool + "[tools.t.parameters]\ntype = \"array\"\n")
                == "test.toml:5: tools.t.parameters.type: must be \"object\" (a tool takes a JSON object of arguments)")
        #expect(error(tool + "[tools.t.parameters]\nproperties = {}\n").hasPrefix("test.toml:4: tools.t.parameters.type: must be \"object\""))
        #expect(error(tool + "[tools.t.parameters]\ntype = \"object\"\nproperties = { p = { type = \"date\" } }\n")
                .hasPrefix("test.toml:6: tools.t.parameters.properties.p.type: must be one of string, integer"))
        #expect(error(tool + "[tools.t.parameters]\ntype = \"object\"\nrequired = [\"q\"]\n") == "test.toml:6: tools.t.parameters.required: \"q\" is not in properties")
        #expect(error(tool + "[tools.t.parameters]\ntype = \"object\"\nwhen = 1979-05-27\n").hasPrefix("test.toml:6: tools.t.parameters.when: has no JSON form"))
    }

    @Test("a later layer's [tools.NAME] replaces the whole tool, its patterns the whole list")
    func toolLayers() throws {
        var builder = ConfigBuilder()
        try builder.apply(text: "[tools.t]\ndescription = \"One.\"\ncommand = [\"one\"]\ntimeout = 5\n[security]\nallow = [\"a\", \"b\"]\n",
                          file: "a.toml", readableByOthers: false)
        try builder.apply(text: "[tools.t]\ndescription = \"Two.\"\ncommand = [\"two\"]\n[security]\nallow = [\"c\"]\n",
                          file: "b.toml", readableByOthers: false)
        let config = try builder.finish()
        #expect(config.tools.userTools["t"] == ToolDefinition(name: "t", description: "Two.", parameters: #"{"properties":{},"type":"object"}"#,
                                                            kind: .command(["two"]), timeout: 30, maxOutput: 65536))
        #expect(config.security.allow == ["c"])
        #expect(throws: ConfigError(file: "c.toml", line: 2, key: "security.allow", "'(' is not a regular expression")) {
            try builder.apply(text: "[security]\nallow = [\"(\"]\n", file: "c.toml", readableByOthers: false)
        }
    }
}

extension ConfigTests {
    @Test("the built-in pattern lists in docs/configuration.md are the defaults, and parse as [security]")
    func documentedPatterns() throws {
        let docs = URL(fileURLWithPath: Self.examplePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/configuration.md")
        let text = try String(contentsOf: docs, encoding: .utf8)
        let block = try #require(text.components(separatedBy: "```toml\n[security]\n").dropFirst().first?.components(separatedBy: "```").first)
        let config = try parse("[security]\n" + block)
        #expect(config.security.dangerousPatterns == SecurityConfig.defaultDangerousPatterns)
        #expect(config.security.requireConfirm == SecurityConfig.defaultRequireConfirm)
    }
}
