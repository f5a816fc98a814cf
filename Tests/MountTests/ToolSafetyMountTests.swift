import Foundation
import Testing

/// Who a tool runs as and what bounds it, through a real mount (see ``ToolMountTests``): the
/// socket's owner and an environment without keys, undo, `ask` and its cycles, timeouts that
/// kill the whole process group, output caps, `max-tool-rounds`, and bad input from the model.
@Suite("Mounted: tools, safety")
struct ToolSafetyMountTests {
    @Test("with allow_other, a socket owned by uid 65534 runs its tool as 65534, and the tool's environment holds no key of the daemon's")
    func owner() async {
        let r = await ToolMountTests.mounted("""
            [providers.keyed]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            api_key_env = "AIFS_TOOL_TEST_KEY"
            models = ["m"]
            """, options: "-o allow_other", """
            as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
            chmod 755 $D  # the second user reaches the mount through it
            as_nobody mkdir $M/u && stat -c '%u' $M/u
            printf 'model keyed/m\\ntools bash\\n' | as_nobody tee $M/u/ctl >/dev/null
            echo 'please-call bash {"command": "id -u; id -g; env | sort | cut -d= -f1 | tr \\"\\\\\\\\n\\" \\" \\"; env | grep -c sk-tool-secret"}' | as_nobody tee $M/u/input >/dev/null
            as_nobody cat $M/u/output
            """, before: "export AIFS_TOOL_TEST_KEY=sk-tool-secret-123")
        // PWD, SHLVL and _ are bash's own; the 0 is `grep -c` finding no key in the environment.
        #expect(r.stdout == "65534\nanswer: 65534 65534 AIFS_SOCKET AIFS_TOOL_CALL HOME LANG LOGNAME PATH PWD SHELL SHLVL USER _ 0 [exit status 1]\n",
                "\(r)")
        #expect(!r.stdout.contains("AIFS_TOOL_TEST_KEY"), "\(r)")
    }

    @Test("on a socket another user may write (chmod 777): they may not change its tools or decide its calls (EPERM), and their messages run no tool as the owner")
    func othersCannotActAsTheOwner() async {
        let r = await ToolMountTests.mounted(options: "-o allow_other", """
            as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
            chmod 755 $D
            mkdir $M/s; chmod 777 $M/s; printf 'model fo/m\ntools bash\nsecurity safe\n' > $M/s/ctl
            for line in 'tools bash,read' 'security trusted' "set workdir /tmp" 'set max-tool-rounds 9'; do
              echo "$line" | as_nobody tee $M/s/ctl >/dev/null 2>&1 || echo "refused: $line"
            done
            echo 'please-call bash {"command": "id -u"}' | as_nobody tee $M/s/input >/dev/null
            as_nobody cat $M/s/output
            echo 'please-call bash {"command": "echo mine"}' > $M/s/input; appears $M/s/pending/2.1 && echo parked
            echo 'approve 2.1' | as_nobody tee $M/s/ctl >/dev/null 2>&1 || echo "refused: approve"
            echo 'deny 2.1' | as_nobody tee $M/s/ctl >/dev/null 2>&1 || echo "refused: deny"
            echo 'approve 2.1' > $M/s/ctl; cat $M/s/output
            grep -c 'only the socket.s owner or root may change its tools' $M/s/error
            """)
        #expect(r.stdout == """
            refused: tools bash,read
            refused: security trusted
            refused: set workdir /tmp
            refused: set max-tool-rounds 9
            answer: refused: message 1 came from uid 65534; this socket's tools run as its owner (uid 0) and only for the owner's own messages
            parked
            refused: approve
            refused: deny
            answer: mine
            6

            """, "\(r)")
    }

    @Test("write over a file, then undo: the bytes come back exactly; a file write made is removed by undo; restore of the before-tool snapshot brings the conversation back")
    func undo() async {
        let r = await ToolMountTests.mounted("""
            [security]
            require_confirm = ["^write "]
            """, options: "--store $D/store/aifs.db", """
            mkdir -p $D/w; printf 'line one\\n\\001\\377 binary\\n' > $D/w/f; cp $D/w/f $D/original
            mkdir $M/s; printf 'model fo/m\\ntools write\\nset workdir %s\\n' $D/w > $M/s/ctl
            echo 'please-say before' > $M/s/input; cat $M/s/output
            cat $M/s/context > $D/context.before
            echo 'please-call write {"path": "f", "content": "replaced"}' > $M/s/input
            appears $M/s/pending/2.1 && echo 'approve 2.1' > $M/s/ctl; cat $M/s/output
            cat $D/w/f; echo
            echo 'undo 2.1' > $M/s/ctl  # returns once the file is back
            cmp $D/w/f $D/original && echo "undo: byte for byte"
            echo 'undo 2.1' > $M/s/ctl 2>/dev/null || echo "second undo: refused"
            echo 'please-call write {"path": "new", "content": "x"}' > $M/s/input
            appears $M/s/pending/3.1 && echo 'approve 3.1' > $M/s/ctl; cat $M/s/output >/dev/null
            [ -e $D/w/new ] && echo "new: written"; echo 'undo 3.1' > $M/s/ctl
            [ -e $D/w/new ] || echo "new: removed by undo"
            ls $M/snapshots | grep -c '^before-tool-s-'
            echo 'restore before-tool-s-2.1' > $M/s/ctl && cmp $M/s/context $D/context.before && echo "conversation restored"
            """)
        #expect(r.stdout.hasPrefix("before\nanswer: wrote 8 bytes to /"), "\(r)")
        #expect(r.stdout.contains("replaced\nundo: byte for byte\nsecond undo: refused\nnew: written\nnew: removed by undo\n2\nconversation restored\n"), "\(r)")
    }

    @Test("ask: lead hands a subtask to worker and uses its reply; a asks b asks a is refused at once, nothing hangs")
    func ask() async {
        let r = await ToolMountTests.mounted("""
            mkdir $M/lead $M/worker $M/a $M/b
            printf 'model fo/m\\ntools ask\\n' > $M/lead/ctl; echo 'model fo/m' > $M/worker/ctl
            echo 'please-call ask {"socket": "worker", "message": "please-say forty-two"}' > $M/lead/input
            timeout 30 cat $M/lead/output
            grep -c '^forty-two$' $M/worker/transcript
            for s in a b; do printf 'model fa/m\\ntools ask\\n' > $M/$s/ctl; done
            echo 'please-call ask {"socket": "b", "message": "please-call ask {\\"socket\\": \\"a\\", \\"message\\": \\"hi\\"}"}' > $M/a/input
            timeout 30 cat $M/a/output; echo "rc=$?"
            grep -c "ask: 'a' is waiting for this answer already" $M/b/error
            echo 'please-call ask {"socket": "a", "message": "x"}' > $M/a/input; timeout 30 cat $M/a/output
            """)
        #expect(r.stdout == """
            answer: forty-two
            1
            answer: answer: ask: 'a' is waiting for this answer already (an ask cycle would wait for itself)
            rc=0
            1
            answer: ask: 'a' is waiting for this answer already (an ask cycle would wait for itself)

            """, "\(r)")
    }

    /// Two mounts: only the kill test has `timeout = 1`; the other calls run under the default
    /// timeout, so a loaded machine cannot make `true` or `head | tr` time out instead.
    @Test("limits: a tool past its timeout is killed with its children; output over max_output is cut and says so; max-tool-rounds ends a loop with EIO")
    func limits() async {
        let killed = await ToolMountTests.mounted("""
            [tools]
            timeout = 1
            """, """
            mkdir $M/s; printf 'model fo/m\\ntools bash\\nset workdir %s\\n' $D > $M/s/ctl
            echo 'please-call bash {"command": "sleep 300 & echo $! > child; echo $$ > parent; sleep 300"}' > $M/s/input
            cat $M/s/output | grep -o 'killed after 1 s with its children (timeout)'
            for p in $(cat $D/child) $(cat $D/parent); do kill -0 $p 2>/dev/null && echo "alive: $p"; done; echo "survivors checked"
            """)
        #expect(killed.stdout == """
            killed after 1 s with its children (timeout)
            survivors checked

            """, "\(killed)")
        let r = await ToolMountTests.mounted("""
            [tools]
            max_output = 100
            """, """
            mkdir $M/s; printf 'model fo/m\\ntools bash\\nset workdir %s\\nset max-tool-rounds 3\\n' $D > $M/s/ctl
            echo 'please-call bash {"command": "head -c 5000 /dev/zero | tr \\"\\\\\\\\0\\" x"}' > $M/s/input
            cat $M/s/output | grep -o '\\[output cut at 100 of 5000 bytes (max_output 100)\\]'
            echo 'please-call-forever bash {"command": "true"}' > $M/s/input
            cat $M/s/output; echo "rc=$?"
            grep -o 'max-tool-rounds 3 reached' $M/s/error
            grep -c '^\\[tool-call 2\\.' $M/s/transcript
            """)
        #expect(r.stdout == """
            [output cut at 100 of 5000 bytes (max_output 100)]
            rc=1
            max-tool-rounds 3 reached
            3

            """, "\(r)")
        #expect(r.stderr.contains("/s/output: Input/output error"), "\(r)")
    }

    @Test("bad input from the model: unknown tool, arguments not JSON or against the schema, a missing or unreadable path: each an error result and an error line; the exchange goes on")
    func badInput() async {
        let r = await ToolMountTests.mounted(options: "-o allow_other", """
            as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
            echo secret > $D/private; chmod 600 $D/private; chmod 755 $D
            as_nobody mkdir $M/s; printf 'model fo/m\\ntools bash,read\\n' | as_nobody tee $M/s/ctl >/dev/null
            for call in 'nosuch {}' 'bash {not json' 'bash {"cmd": "x"}' 'read {"path": "/nonexistent/x"}' "read {\\"path\\": \\"$D/private\\"}"; do
              echo "please-call $call" | as_nobody tee $M/s/input >/dev/null
              as_nobody cat $M/s/output
            done
            as_nobody cut -d' ' -f2-4 $M/s/error
            grep -c '^\\[tool-result [0-9.]* \\(error\\|exit 1\\)\\]' $M/s/transcript
            """)
        let lines = r.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count >= 5, "\(r)")
        if lines.count >= 5 {
            #expect(lines[0].hasPrefix("answer: unknown tool 'nosuch': this socket's tools are bash, read"), "\(r)")
            #expect(lines[1].hasPrefix("answer: bad arguments for bash: arguments are not JSON"), "\(r)")
            #expect(lines[2].hasPrefix("answer: bad arguments for bash:") && lines[2].contains("'command'"), "\(r)")
            #expect(lines[3].contains("No such file or directory") && lines[3].contains("[exit status 1]"), "\(r)")
            #expect(lines[4].contains("Permission denied") && lines[4].contains("[exit status 1]"), "\(r)")
        }
        #expect(r.stdout.contains("tool call 1.1\ntool call 2.1\ntool call 3.1\ntool call 4.1\ntool call 5.1\n5\n"), "\(r)")
    }
}
