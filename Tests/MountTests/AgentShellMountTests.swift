import Foundation
import Testing

/// The shell agent of docs/agents.md, four lines, exactly as printed there: it answers `input`,
/// `chat` and a team round. (AgentMountTests drives the sandbox's limits with a probe.)
@Suite("Mounted: the documented shell agent")
struct AgentShellMountTests {
    @Test("the 4-line shell agent of docs/agents.md answers input, chat and a team round",
          .enabled(if: AgentMountTests.canRun, "needs root and /usr/bin/bwrap"))
    func documentedShellAgent() async throws {
        // The agent is taken from the documentation, so the test fails if the docs drift.
        let docs = try String(contentsOfFile: Shell.directory + "/../../docs/agents.md", encoding: .utf8)
        let agent = try #require(docs.components(separatedBy: "A shell agent:\n\n```sh\n").dropFirst().first?
            .components(separatedBy: "```").first, "docs/agents.md shows a shell agent")
        #expect(agent.split(separator: "\n").count <= 20)
        let r = await AgentMountTests.script("""
            cat > $DIR/shell_agent.sh <<'AGENT'
            \(agent)AGENT
            chmod 644 $DIR/shell_agent.sh
            as_nobody mkdir $M/shell
            echo "input: $(echo hello | as_nobody tee $M/shell/input >/dev/null; as_nobody cat $M/shell/output)"
            echo "chat: $(as_nobody /usr/bin/python3 -c 'import os, sys
            fd = os.open(sys.argv[1], os.O_RDWR); os.write(fd, b"through chat"); print(os.read(fd, 4096).decode())' $M/shell/chat)"
            echo 'team question' > $M/team-chat-all/input
            cat $M/team-chat-all/output | grep -A1 '^\\[team-chat-from-shell\\]' | tail -1 | sed 's/^/team: /'
            echo "ctl: $(grep '^agent:' $M/shell/ctl)"
            """, extra: """
            [agents.shell]
            command = ["/bin/sh", "$DIR/shell_agent.sh"]
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("input: you said: hello\n"), "\(r)")
        #expect(r.stdout.contains("chat: you said: through chat\n"), "\(r)")
        #expect(r.stdout.contains("team: you said: team question\n"), "\(r)")
        #expect(r.stdout.contains("ctl: agent: shell\n"), "\(r)")
    }
}
