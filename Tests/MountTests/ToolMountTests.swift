import Foundation
import Testing

/// Tools through a real mount, against `fake_model_server.py`, which streams tool calls in
/// both vendors' formats (a message line `please-call NAME ARGS` is one round of calls; once
/// every round has its results the model answers `answer: ` + the last results) and refuses
/// a follow-up request whose tool results are not in the vendor's exact shape (HTTP 400).
/// Nothing destructive runs: commands are harmless, files are in the test's temp directory.
@Suite("Mounted: tools")
struct ToolMountTests {
    static let config = """
        [providers.fo]
        kind = "openai"
        base_url = "http://127.0.0.1:$PORT/v1"
        models = ["m"]
        [providers.fa]
        kind = "anthropic"
        base_url = "http://127.0.0.1:$PORT"
        models = ["m"]
        """

    /// Mounts with the two fake providers, then runs `body`.
    static func mounted(options: String = "", _ body: String) async -> Shell.Result {
        await mounted("", options: options, body)
    }

    /// Mounts with the two fake providers and `extra` configuration, then runs `body`.
    static func mounted(_ extra: String, options: String = "", _ body: String, before: String = "") async -> Shell.Result {
        await ProviderMountTests().script(config: config + "\n" + extra, """
            \(before)
            $AIFS mount $M --config $C \(options) > $D/mount.out 2>&1 || { cat $D/mount.out; exit 1; }
            # Waits until FILE exists (the script's timeout bounds a failure; nothing waits for time).
            appears() { until [ -e "$1" ]; do sleep 0.01; done; }
            \(body)
            """)
    }

    /// Python that prints the shape of the last request's tool round (the last two messages).
    static let lastRound = """
        python3 - $REQUESTS <<'PY'
        import json, sys
        last = [json.loads(l) for l in open(sys.argv[1])][-1]
        print("tools:", ",".join(last["tools"]))
        for m in last["body_messages"][-2:]:
            print(json.dumps(m, sort_keys=True))
        PY
        """

    @Test("OpenAI and Anthropic: bash echo hi in two rounds; the result goes back in the vendor's exact shape; output is only the answer")
    func twoRounds() async {
        let r = await Self.mounted("""
            for v in fo fa; do
              mkdir $M/$v; printf 'model %s/m\\ntools bash\\n' $v > $M/$v/ctl
              echo 'please-call bash {"command": "echo hi"}' > $M/$v/input
              echo "--- $v"; cat $M/$v/output; echo "rc=$?"
              \(Self.lastRound)
              grep -E '^\\[tool-(call|result)' $M/$v/transcript | cut -d' ' -f1-3
            done
            grep '^tools:' $M/fo/ctl
            """)
        #expect(r.stdout == """
            --- fo
            answer: hi
            rc=0
            tools: bash
            {"content": null, "role": "assistant", "tool_calls": [{"function": {"arguments": "{\\"command\\": \\"echo hi\\"}", "name": "bash"}, "id": "call_1_0", "type": "function"}]}
            {"content": "hi\\n", "role": "tool", "tool_call_id": "call_1_0"}
            [tool-call 1.1 bash]
            [tool-result 1.1 exit
            --- fa
            answer: hi
            rc=0
            tools: bash
            {"content": [{"id": "toolu_1_0", "input": {"command": "echo hi"}, "name": "bash", "type": "tool_use"}], "role": "assistant"}
            {"content": [{"content": "hi\\n", "tool_use_id": "toolu_1_0", "type": "tool_result"}], "role": "user"}
            [tool-call 1.1 bash]
            [tool-result 1.1 exit
            tools: bash

            """, "\(r)")
    }

    @Test("headers on shows each call and result in output; memory search finds them; /ai/tools lists every tool with its schema")
    func onRecord() async {
        let r = await Self.mounted("""
            mkdir $M/s; printf 'model fo/m\\ntools bash,read\\nheaders on\\n' > $M/s/ctl
            echo 'please-call bash {"command": "echo needle-71"}' > $M/s/input
            cat $M/s/output
            # Memory is indexed on its own time: wait until the search finds it.
            until grep -q needle-71 "$M/memory/search/needle-71" 2>/dev/null; do sleep 0.01; done
            grep -c needle-71 "$M/memory/search/needle-71"
            python3 -c 'import json,sys; [print(o["name"], o["kind"], o["parameters"]["type"]) for o in map(json.loads, open(sys.argv[1]))]' $M/tools
            """)
        #expect(r.stdout.hasPrefix("""
            [tool-call 1.1 bash] {"command": "echo needle-71"}
            [tool-result 1.1 exit 0]
            needle-71
            [team-chat-from-s]
            answer: needle-71

            """), "\(r)")
        #expect(r.stdout.contains("bash builtin object\nread builtin object\nwrite builtin object\nlist builtin object\nask builtin object\n"), "\(r)")
        let hits = r.stdout.split(separator: "\n").dropFirst(5).first.flatMap { Int($0) } ?? 0
        #expect(hits >= 2, "memory search finds the call and its result: \(r)")
    }

    @Test("a [sockets.NAME] template gives a new socket its tools and security mode")
    func template() async {
        let r = await Self.mounted("""
            [sockets.agent]
            model = "fo/m"
            tools = "bash,list"
            security = "paranoid"
            """, """
            mkdir $M/agent; grep -E '^(tools|security):' $M/agent/ctl
            echo 'please-call bash {"command": "echo no"}' > $M/agent/input; cat $M/agent/output
            """)
        #expect(r.stdout == """
            tools: bash,list
            security: paranoid
            answer: refused (security paranoid): paranoid mode: not matched by [security] allow

            """, "\(r)")
    }

    @Test("modes: trusted runs rm -rf of a temp dir; normal refuses rm -rf / and parks sudo; paranoid parks what allow matches, refuses the rest; safe parks all; approve and deny")
    func modes() async {
        let r = await Self.mounted("""
            [security]
            allow = ["^echo "]
            """, """
            mkdir $M/s; printf 'model fo/m\\ntools bash\\n' > $M/s/ctl
            ask() { echo "please-call bash {\\"command\\": \\"$1\\"}" > $M/s/input; }
            mkdir -p $D/victim/sub; touch $D/victim/sub/f
            echo 'security trusted' > $M/s/ctl; ask "rm -rf $D/victim"; cat $M/s/output >/dev/null
            [ -e $D/victim ] && echo "trusted: still there" || echo "trusted: removed"
            echo 'security normal' > $M/s/ctl
            # --version: even if the policy failed, GNU rm would only print its version.
            ask "rm -rf / --version"; cat $M/s/output | grep -o 'refused (security normal): matches dangerous pattern'
            ask "sudo true"; appears $M/s/pending/3.1 && grep -E '^(tool|state|arguments):' $M/s/pending/3.1
            python3 -c 'import os,select,sys; fd=os.open(sys.argv[1], os.O_RDONLY|os.O_NONBLOCK); print("poll readable:", bool(select.select([fd],[],[],0)[0]))' $M/s/output
            $AIFS pending -m $M | cut -f1,2
            echo 'approve 3.1' > $M/s/ctl; cat $M/s/output | grep -c '^answer:'
            ls $M/s/pending | wc -l
            echo 'security paranoid' > $M/s/ctl
            ask "ls /"; cat $M/s/output | grep -o 'not matched by \\[security\\] allow'
            ask "echo ok"; appears $M/s/pending/5.1 && echo parked
            $AIFS deny 5.1 -m $M not today; cat $M/s/output
            echo 'security safe' > $M/s/ctl
            ask "echo safe"; appears $M/s/pending/6.1 && echo 'approve all' > $M/s/ctl; cat $M/s/output
            grep -c '^\\[tool-result [0-9.]* refused\\]' $M/s/transcript
            grep -c ' tool call [0-9.]* refused' $M/s/error
            """)
        #expect(r.stdout == """
            trusted: removed
            refused (security normal): matches dangerous pattern
            tool: bash
            state: waiting
            arguments: {"command": "sudo true"}
            poll readable: False
            s/3.1\tbash
            1
            0
            not matched by [security] allow
            parked
            answer: denied by the user: not today
            answer: safe
            2
            2

            """, "\(r)")
    }

    /// Two mounts: the cancel half uses the default confirm_timeout (600 s), so that on a loaded
    /// machine the parked call cannot time out before the cancel arrives (with 1 s it could).
    @Test("a call left unconfirmed past confirm_timeout is denied; cancel while a call waits ends it and empties pending/")
    func confirmTimeout() async {
        let timedOut = await Self.mounted("""
            [security]
            confirm_timeout = 1
            """, """
            mkdir $M/s; printf 'model fo/m\\ntools bash\\nsecurity safe\\n' > $M/s/ctl
            echo 'please-call bash {"command": "echo late"}' > $M/s/input; cat $M/s/output
            ls $M/s/pending | wc -l
            """)
        #expect(timedOut.stdout == """
            answer: denied: not confirmed within 1 s ([security] confirm_timeout)
            0

            """, "\(timedOut)")
        let cancelled = await Self.mounted("", """
            mkdir $M/s; printf 'model fo/m\\ntools bash\\nsecurity safe\\n' > $M/s/ctl
            echo 'please-call bash {"command": "echo never"}' > $M/s/input; appears $M/s/pending/1.1 && echo parked
            echo cancel > $M/s/ctl; cat $M/s/output; echo "rc=$?"; ls $M/s/pending | wc -l
            echo 'approve 1.1' > $M/s/ctl 2>/dev/null || echo "approve: refused"
            """)
        #expect(cancelled.stdout == """
            parked
            rc=0
            0
            approve: refused

            """, "\(cancelled)")
    }
}
