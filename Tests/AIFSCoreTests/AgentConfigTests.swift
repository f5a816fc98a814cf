@testable import AIFSCore
import Foundation
import Testing

/// `[agents.NAME]` (docs/agents.md): what is read, what is refused, and what `network_allow` lets through.
@Suite("configuration: agents")
struct AgentConfigTests: ConfigParsing {
    @Test("an agent's keys are read; its model id is agent/NAME; capabilities take a list or a comma-separated string")
    func reads() throws {
        let config = try parse("""
            [agents.helper]
            command = ["/usr/bin/python3", "/srv/agent.py"]
            model = "echo"
            description = "helps"
            capabilities = "web_access, user_interaction"
            network_allow = ["GET,HEAD https://api.example.com", "http://127.0.0.1:8080", "https://*.example.org"]
            network_rate = "30/min"
            network_max_bytes = 4096
            network_timeout = "10s"
            sockets = ["poet"]
            environment = { MODE = "test" }
            """)
        let agent = try #require(config.agents["helper"])
        #expect(agent.command == ["/usr/bin/python3", "/srv/agent.py"])
        #expect(agent.model == "echo")
        #expect(agent.capabilities == ["web_access", "user_interaction"])
        #expect(agent.networkRate == 30 && agent.networkPeriod == 60)
        #expect(agent.networkMaxBytes == 4096 && agent.networkTimeout == 10)
        #expect(agent.sockets == ["poet"] && agent.environment == ["MODE": "test"])
        #expect(config.modelIDs.contains("agent/helper"))
        let rules = agent.networkAllow
        func allowed(_ method: String, _ url: String) -> Bool {
            rules.contains { $0.allows(method: method, url: URLComponents(string: url)!) }
        }
        #expect(allowed("GET", "https://api.example.com/v1/x"))
        #expect(!allowed("POST", "https://api.example.com/v1/x"), "only GET and HEAD there")
        #expect(!allowed("GET", "http://api.example.com/"), "not its scheme")
        #expect(allowed("POST", "http://127.0.0.1:8080/"))
        #expect(!allowed("GET", "http://127.0.0.1:8081/"), "not its port")
        #expect(allowed("GET", "https://a.b.example.org/") && allowed("GET", "https://example.org/"))
        #expect(!allowed("GET", "https://badexample.org/"))
        #expect(!allowed("GET", "ftp://api.example.com/"))
    }

    @Test("a missing command, a bad rule, rate or model, and a provider named agent are refused with the key")
    func refusals() {
        #expect(error("[agents.a]\nmodel = \"echo\"\n").contains("agents.a.command: is required"))
        #expect(error("[agents.a]\ncommand = []\n").contains("agents.a.command: must name a program"))
        #expect(error("[agents.a]\ncommand = [\"x\"]\nnetwork_allow = [\"example.com\"]\n").contains("agents.a.network_allow: 'example.com' is not"))
        #expect(error("[agents.a]\ncommand = [\"x\"]\nnetwork_rate = \"5/week\"\n").contains("agents.a.network_rate: must be"))
        #expect(error("[agents.a]\ncommand = [\"x\"]\nmodel = \"nope\"\n").contains("agents.a.model: 'nope' is not a configured model"))
        #expect(error("[agents.a]\ncommand = [\"x\"]\nbogus = 1\n").contains("agents.a.bogus: unknown key"))
        #expect(error("[agents.a]\ncommand = [\"x\"]\n[providers.agent]\nkind = \"exec\"\ncommand = [\"cat\"]\n").contains("providers.agent"))
    }
}
