import Foundation
import Testing

/// Real providers through a real mount: an `exec` socket, and OpenAI and Anthropic sockets
/// against `fake_model_server.py`, configured with a TOML file as a user would.
@Suite("Mounted: providers and configuration", .serialized)
struct ProviderMountTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    /// Runs `body` with `M` a mountpoint, `C` a config file holding `config`, and a fake model
    /// server (port in `$PORT`, its request log in `$REQUESTS`, `token_delay` seconds between
    /// tokens; its model `gated` holds each reply after the first token until `touch $GATE`).
    /// The script mounts with `$AIFS mount $M --config $C` itself; everything is unmounted and
    /// stopped on exit.
    func script(config: String, tokenDelay: Double = 0, _ body: String) async -> Shell.Result {
        let dir = MountedAIFS.makeTempDirectory("aifs-prov")
        let r = await Shell.run("""
            D=\(dir); M=$D/mnt; C=$D/config.toml; REQUESTS=$D/requests.log; GATE=$D/gate; mkdir -p $M
            mkfifo $D/ready
            python3 '\(Self.directory)/fake_model_server.py' $D/port $REQUESTS \(tokenDelay) --gate $GATE --ready $D/ready & SERVER=$!
            trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null; kill $SERVER 2>/dev/null; rm -rf $D' EXIT
            read -r PORT < $D/ready  # once the server listens
            cat > $C <<CONFIG
            \(config)
            CONFIG
            \(body)
            """, timeout: 120)
        _ = await Shell.run("grep -q ' \(dir)/mnt ' /proc/mounts && umount -l '\(dir)/mnt'; rm -rf '\(dir)'")
        return r
    }

    @Test("an exec socket: stdin in, stdout streamed out, stderr and exit status in error, cancel kills the child")
    func execSocket() async throws {
        let program = "import sys; t = sys.stdin.read(); print('note: got %d bytes' % len(t), file=sys.stderr); "
            + "sys.exit(2) if 'fail' in t else None; sys.stdout.write(t.upper())"
        let r = await script(config: """
            [providers.py]
            kind = "exec"
            command = ["python3", "-c", "\(program)"]
            [providers.sleeper]
            kind = "exec"
            command = ["/bin/sh", "-c", "echo started; sleep 27.123; echo never"]
            """, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            cat $M/models | tr '\\n' ' '; echo
            mkdir $M/s; echo 'model py' > $M/s/ctl
            echo 'hello exec' > $M/s/input; cat $M/s/output
            cut -d' ' -f2- $M/s/error
            echo 'please fail' > $M/s/input; cat $M/s/output; echo "rc=$?"
            cut -d' ' -f2- $M/s/error
            mkdir $M/z; echo 'model sleeper' > $M/z/ctl; echo go > $M/z/input
            # (anchored: this script's own command line holds the config text too)
            child() { pgrep -f "^(/bin/sh -c echo started|sleep 27[.]12$((1+2)))" >/dev/null; }
            head -c 8 $M/z/output; child && echo child-running
            echo cancel > $M/z/ctl
            for i in $(seq 1 30); do child || { echo child-gone; break; }; sleep 0.1; done
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("echo echo/slow py sleeper \n"), "\(r)")
        #expect(r.stdout.contains("HELLO EXEC\nexec python3: note: got 11 bytes\n"), "\(r)")
        // The second request carries the first exchange too (User:/Assistant: blocks): 59 bytes.
        #expect(r.stdout.contains("rc=1\nexec python3: note: got 59 bytes\nrequest message 2 failed: exec python3: exit status 2: note: got 59 bytes\n"), "\(r)")
        #expect(r.stdout.contains("started\nchild-running\nchild-gone"), "\(r)")
    }

    @Test("OpenAI and Anthropic sockets answer concurrently, stream as tokens arrive, keep turns, reset starts afresh; the key is nowhere")
    func httpSockets() async throws {
        let key = "sk-test-\(UUID().uuidString)"
        let r = await script(config: """
            [models]
            default = "fo/m1"
            [providers.fo]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            api_key_env = "AIFS_FAKE_KEY"
            models = ["m1", "gated"]
            [providers.fa]
            kind = "anthropic"
            base_url = "http://127.0.0.1:$PORT"
            api_key_env = "AIFS_FAKE_KEY"
            models = ["m2", "gated"]
            [sockets.claude]
            model = "fa/m2"
            prompt = "You are terse."
            """, tokenDelay: 0.05, """
            export AIFS_FAKE_KEY=\(key)
            $AIFS mount $M --config $C > $D/mount.out 2>&1 || { cat $D/mount.out; exit 1; }
            mkdir $M/gpt $M/claude
            grep -h '^model:' $M/gpt/ctl $M/claude/ctl
            # No stopwatch: `gated` holds each reply after its first token until `touch $GATE`.
            # Both first tokens out before the gate opens: the two requests run at once (one
            # after the other, the second would never start). 60 s bounds a failure only.
            echo 'model fo/gated' > $M/gpt/ctl; echo 'model fa/gated' > $M/claude/ctl
            echo 'one two three four' > $M/gpt/input; echo 'five six seven eight' > $M/claude/input
            timeout 60 python3 - $M/gpt/output $M/claude/output $GATE <<'PY'
            import os, sys
            fds = [os.open(path, os.O_RDONLY) for path in sys.argv[1:3]]
            firsts = [os.read(fd, 100) for fd in fds]
            print("both streaming at once:", all(f == b"reply:" for f in firsts), firsts)
            open(sys.argv[3], "w").close()
            for fd, first in zip(fds, firsts):
                rest = b""
                while chunk := os.read(fd, 100):
                    rest += chunk
                sys.stdout.write((first + rest).decode())
            PY
            rm -f $GATE
            timeout 60 python3 - $M/gpt $GATE <<'PY'
            import os, sys
            s = sys.argv[1]
            with open(s + "/input", "w") as f: f.write("alpha beta gamma delta epsilon\\n")
            fd = os.open(s + "/output", os.O_RDONLY)
            first = os.read(fd, 100)
            held = "in-flight: 1" in open(s + "/ctl").read()
            open(sys.argv[2], "w").close()
            while os.read(fd, 100): pass
            print("first token before the reply ends:", held, first)
            PY
            echo 'model fo/m1' > $M/gpt/ctl; echo 'model fa/m2' > $M/claude/ctl
            echo 'third turn' > $M/gpt/input; cat $M/gpt/output >/dev/null
            echo reset > $M/gpt/ctl; echo 'fresh' > $M/gpt/input; cat $M/gpt/output >/dev/null
            python3 -c "import json,sys; print([(json.loads(l)['path'], json.loads(l)['messages'], json.loads(l)['auth']) for l in open(sys.argv[1])])" $REQUESTS
            grep '^tokens-' $M/gpt/ctl | tr '\\n' ' '; echo
            cat "$M/memory/search/epsilon" | cut -f3,4
            found=$( (cat $M/*/transcript $M/*/ctl $M/*/error $M/ctl $M/models; cat "$M/memory/search/sk"; cat $D/mount.out; \
                      cat /run/aifs/*.log 2>/dev/null; cat $M/../*.db* 2>/dev/null; \
                      cat $XDG_DATA_HOME/aifs/* $AIFS_STORE_PATH* 2>/dev/null) | grep -c -a "\(key)")
            echo "key found $found times"
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("model: fo/m1\nmodel: fa/m2\n"), "the default model, and the template's: \(r)")
        #expect(r.stdout.contains("reply: one two three four"), "\(r)")
        #expect(r.stdout.contains("reply: five six seven eight"), "\(r)")
        #expect(r.stdout.contains("both streaming at once: True"), "concurrently: \(r)")
        #expect(r.stdout.contains("first token before the reply ends: True b'reply:'"), "\(r)")
        #expect(r.stdout.contains("('/v1/messages', 1, True)"), "\(r)")
        #expect(r.stdout.contains("('/v1/chat/completions', 1, True), ('/v1/chat/completions', 3, True), ('/v1/chat/completions', 5, True), ('/v1/chat/completions', 1, True)]")
                || r.stdout.contains("('/v1/chat/completions', 3, True), ('/v1/chat/completions', 5, True), ('/v1/chat/completions', 1, True)]"),
                "turns sent: 1, 3, 5, then 1 after reset: \(r)")
        #expect(r.stdout.contains("tokens-in: 20 tokens-out: "), "usage from the provider: \(r)")
        #expect(r.stdout.contains("gpt\tinput\ngpt\treply\n") || r.stdout.contains("gpt\treply\ngpt\tinput\n"), "\(r)")
        #expect(r.stdout.contains("key found 0 times"), "\(r)")
    }

    @Test("HTTP faults end the blocked cat with EIO and the reason in error; retries are reported; other sockets go on")
    func faults() async throws {
        let r = await script(config: """
            [providers.fo]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            models = ["m"]
            max_retries = 2
            """, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            mkdir $M/a $M/b; echo 'model fo/m' > $M/a/ctl; echo 'model fo/m' > $M/b/ctl
            echo 'please-401 now' > $M/a/input; cat $M/a/output; echo "rc=$?"
            echo 'please-429 now' > $M/a/input; cat $M/a/output; echo "rc=$?"
            echo 'still fine' > $M/b/input; cat $M/b/output
            cut -d' ' -f2- $M/a/error
            """)
        #expect(r.stdout.contains("rc=1\nrc=1\nreply: still fine\n"), "\(r)")
        #expect(r.stdout.contains("request message 1 failed: fo: HTTP 401: invalid api key\n"), "\(r)")
        #expect(r.stdout.contains("provider fo: HTTP 429: rate limited; retry 1 of 2 in 0.1s\nprovider fo: HTTP 429: rate limited; retry 2 of 2 in 0.1s\n"
                                  + "request message 2 failed: fo: HTTP 429: rate limited (gave up after 3 attempts)\n"), "\(r)")
    }

    @Test("cancel and reset while tokens stream as fast as the server writes them: 40 times, each ends, the socket goes on")
    func cancelWhileStreaming() async throws {
        // The socket cancels its request while holding its lock, and the provider hands tokens
        // to the socket from the event loop: neither may wait for the other.
        let r = await script(config: """
            [providers.fo]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            models = ["m"]
            """, tokenDelay: 0, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            mkdir $M/s; echo 'model fo/m' > $M/s/ctl
            words=$(seq 1 3000 | tr '\\n' ' ')
            ended=0
            for i in $(seq 1 40); do
                echo "$words" > $M/s/input
                timeout 20 head -c 1 $M/s/output > /dev/null
                if [ $((i % 2)) -eq 0 ]; then echo cancel > $M/s/ctl; else echo reset > $M/s/ctl; fi
                timeout 20 cat $M/s/output > /dev/null; [ $? -ne 124 ] && ended=$((ended + 1))
            done
            echo "ended: $ended"
            echo 'please-say still here' > $M/s/input; timeout 20 cat $M/s/output
            """)
        #expect(r.stdout.contains("ended: 40\nstill here\n"), "\(r)")
    }

    @Test("aifs doctor checks FUSE, the configuration and each provider, and exits 1 when one fails")
    func doctor() async throws {
        let r = await script(config: """
            [providers.py]
            kind = "exec"
            command = ["python3", "-c", "print('fine')"]
            [providers.fake]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            models = ["m"]
            [providers.down]
            kind = "anthropic"
            base_url = "http://127.0.0.1:9"
            models = ["m"]
            idle_timeout = 1
            max_retries = 0
            """, """
            $AIFS doctor --config $C; echo "rc=$?"
            """)
        #expect(r.stdout.contains("/dev/fuse      ok\n"), "\(r)")
        #expect(r.stdout.contains("model py       ok  "), "\(r)")
        #expect(r.stdout.contains(": fine"), "\(r)")
        #expect(r.stdout.contains("model fake/m   ok  ") && r.stdout.contains("reply: Reply with the single word: ok"), "\(r)")
        #expect(r.stdout.contains("model down/m   FAIL  down: cannot reach http://127.0.0.1:9/v1/messages: "), "\(r)")
        #expect(r.stdout.hasSuffix("rc=1\n"), "\(r)")
    }

    @Test("a provider without models lists the server's, takes any name; one that cannot list says so in /ai/ctl and doctor; a models list restricts")
    func discoveredModels() async throws {
        let r = await script(config: """
            [providers.fo]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            [providers.fa]
            kind = "anthropic"
            base_url = "http://127.0.0.1:$PORT"
            [providers.nolist]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/nothing"
            [providers.fixed]
            kind = "openai"
            base_url = "http://127.0.0.1:$PORT/v1"
            models = ["m"]
            """, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            grep -E '^f[oa]/(m|slow)$' $M/models | tr '\\n' ' '; echo
            grep -c '^fixed/' $M/models
            grep '^provider ' $M/ctl
            mkdir $M/s
            echo 'model fo/slow' > $M/s/ctl && echo "fo/slow taken"
            echo 'model fa/a-name-the-server-never-listed' > $M/s/ctl && echo "any name taken"
            echo 'model fixed/other' > $M/s/ctl; echo "fixed/other rc=$?"
            cut -d' ' -f2- $M/s/error
            echo 'model fa/m' > $M/s/ctl; echo hi > $M/s/input; cat $M/s/output
            $AIFS doctor --config $C | grep '^models '
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("fa/m fa/slow fo/m fo/slow \n1\n"), "both formats' listings; a provider with models has only those: \(r)")
        #expect(r.stdout.contains("provider fa: ok, 10 models listed\nprovider fixed: ok\nprovider fo: ok, 10 models listed\n"), "\(r)")
        #expect(r.stdout.contains("provider nolist: cannot list models: GET http://127.0.0.1:"), "\(r)")
        #expect(r.stdout.contains("fo/slow taken\nany name taken\n"), "\(r)")
        #expect(r.stdout.contains("fixed/other rc=1\nctl unknown model 'fixed/other' (see /ai/models)\n"), "\(r)")
        #expect(r.stdout.contains("reply: hi\n"), "\(r)")
        #expect(r.stdout.contains("models fa      ok  10 listed: m, slow, gated, held, fail, …"), "\(r)")
        #expect(r.stdout.contains("models nolist  FAIL  cannot list models: GET http://127.0.0.1:"), "\(r)")
    }

    @Test("a bad configuration stops the mount with file, line and key; reload keeps the old one and says why")
    func badConfiguration() async throws {
        let r = await script(config: """
            [providers.x]
            kind = "openai"
            bas_url = "http://localhost"
            """, """
            $AIFS mount $M --config $C; echo "rc=$?"
            printf '[providers.x]\\nkind = "openai"\\nmodels = ["a"]\\n' > $C
            $AIFS mount $M --config $C >/dev/null && cat $M/models | tr '\\n' ' '; echo
            printf '[models]\\ndefault = "x/zzz"\\n[providers.x]\\nkind = "openai"\\nmodels = ["a", "b"]\\n' > $C
            echo reload > $M/ctl; echo "reload-rc=$?"; grep '^config:' $M/ctl
            printf '[providers.x]\\nkind = "openai"\\nmodels = ["a", "b"]\\n' > $C
            echo reload > $M/ctl; echo "reload-rc=$?"; cat $M/models | tr '\\n' ' '; echo
            """)
        #expect(r.stderr.contains("config.toml:3: providers.x.bas_url: unknown key"), "\(r)")
        #expect(r.stdout.contains("rc=1\n"), "\(r)")
        #expect(r.stdout.contains("echo echo/slow x x/a \n"), "\(r)")
        #expect(r.stdout.contains("reload-rc=1\nconfig: reload failed, previous configuration kept: "), "\(r)")
        #expect(r.stdout.contains("models.default: 'x/zzz' is not a configured model"), "\(r)")
        #expect(r.stdout.contains("reload-rc=0\necho echo/slow x/a x/b \n"), "\(r)")
    }
}
