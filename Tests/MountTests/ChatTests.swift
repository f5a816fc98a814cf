import Foundation
import Testing

/// `chat`: a private exchange per descriptor, through a real mount.
@Suite("Mounted: chat")
struct ChatTests {
    @Test("two processes using chat at once each get exactly their own reply, 100 rounds each; output is untouched")
    func privateReplies() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/x
                cat > $M.chat.py <<'PY'
                import os, sys
                path, who = sys.argv[1], sys.argv[2]
                bad = 0
                for n in range(100):
                    fd = os.open(path, os.O_RDWR)
                    os.write(fd, f"{who} round {n}\\n".encode())
                    reply = b""
                    while True:
                        chunk = os.read(fd, 4096)
                        if not chunk:
                            break
                        reply += chunk
                    os.close(fd)
                    if reply != f"{who} round {n}\\n".encode():
                        bad += 1
                        print("wrong reply", who, n, reply)
                print(who, "bad", bad)
                PY
                python3 $M.chat.py $M/x/chat alice & a=$!; python3 $M.chat.py $M/x/chat bob & b=$!; wait $a $b
                rm -f $M.chat.py
                echo "output: [$(timeout 2 cat $M/x/output)]"
                grep -c '^\\[team-chat-to-x\\] \\[chat\\]' $M/x/transcript
                grep '^messages:' $M/x/ctl
                """, timeout: 120)
            #expect(r.stdout.contains("alice bad 0"), "\(r)")
            #expect(r.stdout.contains("bob bad 0"), "\(r)")
            #expect(r.stdout.contains("output: []\n200\nmessages: 200\n"), "chat replies never reach output: \(r)")
        }
    }

    @Test("fork NAME in ctl makes a copy that ls shows at once; an existing name is EINVAL with the reason in error")
    func forkThroughCtl() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/a; echo 'set temperature 0.4' > $M/a/ctl; echo 'Be kind.' > $M/a/prompt
                echo hi > $M/a/input; cat $M/a/output >/dev/null
                echo 'fork b' > $M/a/ctl && echo forked
                ls $M | tr '\\n' ' '; echo
                grep '^temperature:' $M/b/ctl; cat $M/b/prompt; grep -c '^\\[fork\\]' $M/b/transcript
                echo 'fork b' > $M/a/ctl 2>/dev/null || echo "refused rc=$?"
                cut -d' ' -f2- $M/a/error
                """)
            #expect(r.stdout.contains("forked\na b cluster ctl directory events memory metrics models snapshots team-chat-all tools \ntemperature: 0.4\nBe kind.\n1\nrefused rc=1\nctl fork: socket 'b' exists\n"), "\(r)")
        }
    }

    @Test("/ai/ctl lists every socket with model, state and capabilities (set capabilities in ctl)")
    func discovery() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/sql $M/idle
                echo 'set capabilities "writes SQL, reviews schemas"' > $M/sql/ctl
                echo 'state inactive' > $M/idle/ctl
                grep '^socket ' $M/ctl; grep '^capabilities:' $M/sql/ctl
                """)
            #expect(r.stdout == "socket sql: echo active writes SQL, reviews schemas\nsocket idle: echo inactive -\ncapabilities: writes SQL, reviews schemas\n", "\(r)")
        }
    }

    /// fo/held sends nothing until `touch $GATE`: "not readable until the reply starts" is a
    /// state the test holds, not the 200 ms before echo/slow's first word.
    @Test("poll on chat: polling sends the message; not readable until the reply starts, then readable")
    func chatPoll() async throws {
        let r = await ProviderMountTests().script(config: TeamChatMountTests.fakeConfig, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            timeout 60 python3 - $M $GATE <<'PY'
            import os, select, sys
            m, gate = sys.argv[1], sys.argv[2]
            os.mkdir(m + "/p")
            with open(m + "/p/ctl", "w") as f: f.write("model fo/held\\n")
            fd = os.open(m + "/p/chat", os.O_RDWR | os.O_NONBLOCK)
            os.write(fd, b"slow words here\\n")
            p = select.poll(); p.register(fd, select.POLLIN)
            first = p.poll(0)
            open(gate, "w").close()
            later = p.poll(30000)
            data = b""
            while True:
                try:
                    chunk = os.read(fd, 4096)
                except BlockingIOError:
                    p.poll(30000); continue
                if not chunk: break
                data += chunk
            print("first:", first, "later readable:", bool(later and later[0][1] & select.POLLIN), "reply:", data)
            PY
            """)
        #expect(r.stdout.hasPrefix("first: [] later readable: True reply: b'reply: slow words here"), "\(r)")
    }

    /// The reply is held after its first token (fo/gated, until `touch $GATE`): the first read
    /// returning only that token, while a second write is refused, needs no stopwatch.
    @Test("a chat reply streams; an empty chat reads EOF; a second message on one descriptor is EINVAL")
    func chatEdges() async throws {
        let r = await ProviderMountTests().script(config: TeamChatMountTests.fakeConfig, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            timeout 60 python3 - $M $GATE <<'PY'
            import os, sys, errno
            M, GATE = sys.argv[1], sys.argv[2]
            os.mkdir(f"{M}/c")
            open(f"{M}/c/ctl", "w").write("model fo/gated\\n")
            fd = os.open(f"{M}/c/chat", os.O_RDWR)
            os.write(fd, b"one two three four\\n")
            first = os.read(fd, 100); print("first:", first, "in-flight:", "in-flight: 1" in open(f"{M}/c/ctl").read())
            try:
                os.write(fd, b"more"); print("second write: ok")
            except OSError as e:
                print("second write:", errno.errorcode[e.errno])
            open(GATE, "w").close()
            rest = b""
            while (chunk := os.read(fd, 100)):
                rest += chunk
            print("rest:", rest)
            os.close(fd)
            fd = os.open(f"{M}/c/chat", os.O_RDWR); print("empty:", os.read(fd, 10)); os.close(fd)
            PY
            """)
        #expect(r.stdout.contains("first: b'reply:' in-flight: True"), "\(r)")
        #expect(r.stdout.contains("second write: EINVAL"), "\(r)")
        #expect(r.stdout.contains("rest: b' one two three four"), "\(r)")
        #expect(r.stdout.contains("empty: b''"), "\(r)")
    }
}
