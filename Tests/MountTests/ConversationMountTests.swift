import Foundation
import Testing

/// Long conversations through a real mount, against `fake_model_server.py` in both wire
/// formats: `compact`, `context`, `uncompact`, `auto-compact`, and `fork NAME TURN`, checked on
/// the exact messages the server receives.
@Suite("Mounted: long conversations", .serialized)
struct ConversationMountTests {
    /// The last user message of a compaction request (`Socket.instruction`, in docs/file-protocol.md).
    static let instruction = "Summarize the conversation so far for your own later use: keep every fact, name, number, "
        + "decision and open question needed to go on with it. Reply with the summary only."
    /// What the fake server answers to it: "reply: " and its words.
    static let summary = "reply: " + instruction

    /// Prints each logged request from line `FROM` (1-based) on: its path, then each message as
    /// `role: content` (Anthropic's `system` first, as `system:`).
    static let requests = """
        show() { python3 - "$REQUESTS" "$1" <<'PY'
        import json, sys
        for n, line in enumerate(open(sys.argv[1]), 1):
            if n < int(sys.argv[2]): continue
            r = json.loads(line)
            print("request", n, r["path"])
            if r.get("system"): print("  system:", r["system"])
            for role, content in zip(r["roles"], r["contents"]): print("  %s: %s" % (role, json.dumps(content)))
        PY
        }
        """

    /// An OpenAI socket by default on the fake server, keeping 2 turns when compacting.
    static let openAIConfig = """
        [models]
        default = "fo/m1"
        [providers.fo]
        kind = "openai"
        base_url = "http://127.0.0.1:$PORT/v1"
        models = ["m1"]
        [sockets]
        compact_keep = 2
        """

    /// Runs `body` with `show` defined and the mount made with `config` (see ProviderMountTests.script).
    static func mounted(_ config: String, _ body: String) async -> Shell.Result {
        await ProviderMountTests().script(config: config, """
            \(requests)
            $AIFS mount $M --config $C > $D/mount.out 2>&1 || { cat $D/mount.out; exit 1; }
            \(body)
            """)
    }

    @Test("compact, context, uncompact and fork b 2 on an OpenAI socket: the exact messages before and after")
    func openAI() async throws {
        let r = await Self.mounted(Self.openAIConfig, """
            mkdir $M/a; echo 'be brief' > $M/a/prompt
            for n in 1 2 3; do echo "please-say A$n" > $M/a/input; cat $M/a/output; done
            echo compact > $M/a/ctl
            # Queued behind the compaction: its reply comes once the compaction is done.
            echo 'please-say A4' > $M/a/input; cat $M/a/output
            show 4
            echo '--- context'; cat $M/a/context
            echo '--- transcript'; grep -c '^\\[team-chat-from-a\\] .* #[1-4] id=' $M/a/transcript
            grep -o '^\\[compacted [0-9]* turns\\]' $M/a/transcript
            for n in 1 2 3 4; do grep -qx "please-say A$n" $M/a/transcript && grep -qx "A$n" $M/a/transcript && echo "turn $n kept"; done
            echo '--- error'; cut -d' ' -f2- $M/a/error
            echo uncompact > $M/a/ctl
            echo 'please-say A5' > $M/a/input; cat $M/a/output
            show 6
            echo 'fork b 2' > $M/a/ctl; grep '^forked-from:' $M/b/ctl
            echo 'please-say B3' > $M/b/input; cat $M/b/output
            echo 'please-say A6' > $M/a/input; cat $M/a/output
            show 7
            echo 'fork c 9' > $M/a/ctl; echo "fork past the end: rc=$?"; tail -n 1 $M/a/error | cut -d' ' -f2-
            # One write each (bash's printf may write line by line).
            one_write() { python3 -c 'import os, sys; fd = os.open(sys.argv[1], os.O_WRONLY); os.write(fd, sys.argv[2].encode().replace(b"|", b"\\n"))' "$@"; }
            one_write $M/a/ctl 'fork c 1|reset|'; echo "fork TURN with reset: rc=$?"; tail -n 1 $M/a/error | cut -d' ' -f2-
            one_write $M/a/ctl 'fork c|fork c|'; echo "one name twice: rc=$?"; tail -n 1 $M/a/error | cut -d' ' -f2-
            ls $M | grep -c '^c$'
            echo 'hello' > $M/a/context; echo "write context: rc=$?"
            [ "$(stat -c %s $M/a/context)" = "$(cat $M/a/context | wc -c)" ] && echo "context size true"
            """)
        #expect(r.status == 0, "\(r)")
        let user = { (n: Int) in "  user: \"please-say A\(n)\\n\"\n" }
        let reply = { (n: Int) in "  assistant: \"A\(n)\"\n" }
        // The compaction: the prompt, the turns before the last 2, the instruction last.
        #expect(r.stdout.contains("request 4 /v1/chat/completions\n  system: \"be brief\\n\"\n" + user(1) + reply(1) + user(2) + reply(2)
                                  + "  user: \"\(Self.instruction)\"\n"), "\(r)")
        // The next request: the summary (with the first kept question), the kept reply, the message.
        #expect(r.stdout.contains("request 5 /v1/chat/completions\n  system: \"be brief\\n\"\n"
                                  + "  user: \"[summary of 4 earlier turns]\\n\(Self.summary)\\n\\nplease-say A3\\n\"\n" + reply(3) + user(4)
                                  + "--- context\n"), "\(r)")
        #expect(r.stdout.contains("--- context\n[system]\nbe brief\n[user]\n[summary of 4 earlier turns]\n\(Self.summary)\n\nplease-say A3\n"
                                  + "[assistant]\nA3\n[user]\nplease-say A4\n[assistant]\nA4\n--- transcript\n4\n[compacted 4 turns]\n"), "\(r)")
        #expect(r.stdout.contains("turn 1 kept\nturn 2 kept\nturn 3 kept\nturn 4 kept\n"), "\(r)")
        #expect(r.stdout.contains("context compact: 4 turns replaced by a summary of \(Self.summary.utf8.count) bytes (2 turns kept;"), "\(r)")
        // uncompact: every original turn again.
        #expect(r.stdout.contains("request 6 /v1/chat/completions\n  system: \"be brief\\n\"\n" + (1...4).map { user($0) + reply($0) }.joined()
                                  + user(5) + "forked-from: a #2\n"), "\(r)")
        // The fork has exchanges 1 and 2 exactly; a has all of its own.
        #expect(r.stdout.contains("request 7 /v1/chat/completions\n  system: \"be brief\\n\"\n" + user(1) + reply(1) + user(2) + reply(2)
                                  + "  user: \"please-say B3\\n\"\nrequest 8 /v1/chat/completions\n  system: \"be brief\\n\"\n"
                                  + (1...5).map { user($0) + reply($0) }.joined() + user(6)), "\(r)")
        #expect(r.stdout.contains("fork past the end: rc=1\nctl fork: there is no exchange #9: a has 6 since its last reset\n"
                                  + "fork TURN with reset: rc=1\nctl fork NAME TURN and reset in one write: the turns would be gone; write them apart\n"
                                  + "one name twice: rc=1\nctl fork: one name twice in one write\n0\n"), "\(r)")
        #expect(r.stdout.contains("write context: rc=1\ncontext size true\n"), "\(r)")
    }

    @Test("after reset and a restore of the snapshot before it, the compacted context and every original turn are back")
    func restoreKeepsHistory() async throws {
        let r = await Self.mounted(Self.openAIConfig, """
            mkdir $M/a
            for n in 1 2 3; do echo "please-say A$n" > $M/a/input; cat $M/a/output; done
            echo compact > $M/a/ctl; echo 'please-say A4' > $M/a/input; cat $M/a/output
            echo reset > $M/a/ctl
            echo "after reset: $(wc -c < $M/a/context) bytes of context"
            SNAP=$(ls $M/snapshots | grep before-reset | tail -n 1)
            echo "restore $SNAP" > $M/a/ctl || exit 1
            head -n 2 $M/a/context
            echo uncompact > $M/a/ctl; echo 'please-say A5' > $M/a/input; cat $M/a/output
            show 6
            grep -o ' #[0-9]* id=' $M/a/transcript | tr '\\n' ' '; echo
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("after reset: 0 bytes of context\n[user]\n[summary of 4 earlier turns]\n"), "\(r)")
        var all = "request 6 /v1/chat/completions\n"
        for n in 1...4 { all += "  user: \"please-say A\(n)\\n\"\n  assistant: \"A\(n)\"\n" }
        #expect(r.stdout.contains(all + "  user: \"please-say A5\\n\"\n"), "\(r)")
        #expect(r.stdout.contains(" #1 id=  #2 id=  #3 id=  #4 id=  #5 id= \n"), "numbered on from the restored conversation: \(r)")
    }

    @Test("auto-compact 80 on an Anthropic socket compacts at 80 % of context-tokens, and error says so")
    func anthropicAutoCompact() async throws {
        let r = await Self.mounted("""
            [models]
            default = "fa/m2"
            [providers.fa]
            kind = "anthropic"
            base_url = "http://127.0.0.1:$PORT"
            models = ["m2"]
            """, """
            mkdir $M/c
            printf 'set context-tokens 400\\nset auto-compact 80\\n' > $M/c/ctl
            # 114 bytes (29 tokens) a question, 103 (26 tokens) a reply: with the 6th exchange and
            # the 7th question the context reaches 359 tokens, past 80 % of 400 (5 exchanges: 304).
            for n in 1 2 3 4 5 6 7; do printf 'please-say R%s %0100d' $n 0 > $M/c/input; cat $M/c/output >/dev/null; done
            wc -l < $REQUESTS
            show 7
            cut -d' ' -f2- $M/c/error
            """)
        #expect(r.status == 0, "\(r)")
        let zeros = String(repeating: "0", count: 100)
        let question = { (n: Int) in "please-say R\(n) " + zeros }
        #expect(r.stdout.hasPrefix("8\n"), "6 requests, a compaction, the 7th: \(r)")
        var compaction = "request 7 /v1/messages\n"
        for n in 1...4 { compaction += "  user: \"\(question(n))\"\n  assistant: \"R\(n) \(zeros)\"\n" }
        #expect(r.stdout.contains(compaction + "  user: \"\(Self.instruction)\"\nrequest 8 /v1/messages\n"
                                  + "  user: \"[summary of 8 earlier turns]\\n\(Self.summary)\\n\\n\(question(5))\"\n"), "\(r)")
        #expect(r.stdout.contains("context auto-compact: the context reached 80% of context-tokens 400 (about 359 tokens "
                                  + "with the system prompt and the next message); 8 turns replaced by a summary"), "\(r)")
        #expect(!r.stdout.contains("dropped the"), "compacted instead of dropped: \(r)")
    }
}
