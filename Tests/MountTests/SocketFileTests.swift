import Foundation
import Testing

/// The acceptance list of "The mount" issue, driven through a real mount by child processes.
@Suite("Mounted: sockets, input and output", .serialized)
struct SocketFileTests {
    @Test("echo hello > input; cat output prints hello; a second cat is EOF at once")
    func echoRoundTrip() async throws {
        try await MountedAIFS.with { m in
            // "At once" without a stopwatch: nothing is pending, so a read that would wait has
            // nothing to wait for. poll(0) must say readable and an O_NONBLOCK read must be EOF
            // (not EAGAIN, which is what a read that would block gets); cat then ends with EOF
            // (the 30 s bound only fails a cat that blocks).
            let r = await m.sh("""
                mkdir $M/apollo && echo hello > $M/apollo/input && timeout 30 cat $M/apollo/output
                echo "rc=$?"
                timeout 30 cat $M/apollo/output; echo "rc2=$?"
                python3 -c '
                import errno, os, select, sys
                fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
                p = select.poll(); p.register(fd, select.POLLIN)
                print("readable at once:", bool(p.poll(0)))
                try:
                    print("non-blocking read:", os.read(fd, 100))
                except OSError as e:
                    print("non-blocking read:", errno.errorcode[e.errno])
                ' $M/apollo/output
                """)
            #expect(r.stdout.hasPrefix("hello\nrc=0\nrc2=0\n"), "\(r)")
            #expect(r.stdout.contains("readable at once: True\nnon-blocking read: b''\n"), "second cat must not block: \(r)")
        }
    }

    @Test("one message per open→close; replies in order; a 300 kB write is one message")
    func messagesPerOpen() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/apollo
                printf 'a\\nb\\n' > $M/apollo/input; printf c >> $M/apollo/input
                timeout 5 cat $M/apollo/output | od -An -c | tr -s ' '
                head -c 225000 /dev/urandom | base64 -w 100 > /tmp/aifs-big-$$
                wc -c < /tmp/aifs-big-$$
                cat /tmp/aifs-big-$$ > $M/apollo/input
                timeout 10 cat $M/apollo/output | cmp - /tmp/aifs-big-$$ && echo same
                grep -c '^\\[team-chat-to-apollo\\]' $M/apollo/transcript
                grep '^messages:' $M/apollo/ctl
                rm -f /tmp/aifs-big-$$
                """)
            let lines = r.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(lines.first == "a \\n b \\n c \\n", "\(r)")
            #expect(Int(lines[1]) ?? 0 > 300_000, "\(r)")
            #expect(lines.contains("same"), "\(r)")
            #expect(lines.contains("3"), "three messages in the transcript: \(r)")
            #expect(lines.contains("messages: 3"), "\(r)")
        }
    }

    @Test("tee into two sockets, then cat both outputs")
    func teeToTwoSockets() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("mkdir $M/a $M/b; echo q | tee $M/a/input $M/b/input >/dev/null; timeout 5 cat $M/a/output $M/b/output")
            #expect(r.status == 0 && r.stdout == "q\nq\n", "\(r)")
        }
    }

    /// The reply is held after its first token (fo/gated, until `touch $GATE`): "before it
    /// ends" is a state the test holds, not a race with echo/slow's 200 ms per word.
    @Test("a blocked reader sees bytes of a slow reply before it ends")
    func streamingBeforeTheEnd() async throws {
        let r = await ProviderMountTests().script(config: TeamChatMountTests.fakeConfig, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            timeout 60 python3 - $M $GATE <<'PY'
            import os, sys
            M, GATE = sys.argv[1], sys.argv[2]
            os.mkdir(f"{M}/s")
            open(f"{M}/s/ctl", "w").write("model fo/gated\\n")
            open(f"{M}/s/input", "w").write("one two three four five six seven eight\\n")
            fd = os.open(f"{M}/s/output", os.O_RDONLY)
            first = os.read(fd, 4096)
            ctl = open(f"{M}/s/ctl").read()
            print("first:", first)
            print("in-flight-at-first:", "in-flight: 1" in ctl)
            open(GATE, "w").close()
            rest = b""
            while True:
                b = os.read(fd, 4096)
                if not b: break
                rest += b
            print("whole:", first + rest)
            PY
            """)
        #expect(r.stdout.contains("in-flight-at-first: True"), "\(r)")
        #expect(r.stdout.contains("first: b'reply:'"), "\(r)")
        #expect(r.stdout.contains("whole: b'reply: one two three four five six seven eight"), "\(r)")
    }

    /// fo/held sends nothing until `touch $GATE`: "pending" is a state the test holds, not the
    /// moment before echo/slow's first word (200 ms) that a busy machine can let pass.
    @Test("poll reports not-readable while pending and readable when data arrives; O_NONBLOCK gives EAGAIN")
    func pollAndNonBlocking() async throws {
        let r = await ProviderMountTests().script(config: TeamChatMountTests.fakeConfig, """
            $AIFS mount $M --config $C >/dev/null || exit 1
            timeout 60 python3 - $M $GATE <<'PY'
            import os, select, sys, errno
            M, GATE = sys.argv[1], sys.argv[2]
            os.mkdir(f"{M}/p")
            open(f"{M}/p/ctl", "w").write("model fo/held\\n")
            open(f"{M}/p/input", "w").write("alpha beta\\n")
            fd = os.open(f"{M}/p/output", os.O_RDONLY | os.O_NONBLOCK)
            try:
                os.read(fd, 100); print("nonblock: no error")
            except OSError as e:
                print("nonblock:", errno.errorcode[e.errno])
            p = select.poll(); p.register(fd, select.POLLIN)
            print("pending:", p.poll(0))
            open(GATE, "w").close()
            print("later:", [(f, bool(ev & select.POLLIN)) for f, ev in p.poll(30000)])
            print("data:", os.read(fd, 100))
            # once everything is read and nothing is pending, poll says readable (EOF)
            # (O_NONBLOCK: wait with poll between reads until EOF)
            while True:
                p.poll(30000)
                try:
                    if not os.read(fd, 100): break
                except BlockingIOError:
                    pass
            print("idle:", [(bool(ev & select.POLLIN)) for f, ev in p.poll(0)])
            PY
            """)
        #expect(r.stdout.contains("nonblock: EAGAIN"), "\(r)")
        #expect(r.stdout.contains("pending: []"), "\(r)")
        #expect(r.stdout.contains("later: [(3, True)]") || r.stdout.contains(", True)]"), "\(r)")
        #expect(r.stdout.contains("data: b'reply:"), "\(r)")
        #expect(r.stdout.contains("idle: [True]"), "\(r)")
    }

    @Test("a failed request: the blocked read returns EIO once, the reason is in error, the queue goes on")
    func failedRequestGivesEIOOnce() async throws {
        // `never` never answers (an exec provider that sleeps): the 0.3 s timeout is the only way
        // the request can end, so no machine is slow enough to let a reply win the race.
        let r = await MountedAIFS.script(config: """
            [providers.never]
            kind = "exec"
            command = ["/bin/sleep", "600"]
            """, """
            mkdir $M/f
            printf 'model never\\nset timeout 0.3\\n' > $M/f/ctl
            echo "one two three four five" > $M/f/input
            timeout 30 cat $M/f/output; echo "rc1=$?"
            timeout 30 cat $M/f/output; echo "rc2=$?"
            grep -c 'timed out' $M/f/error
            echo 'model echo' > $M/f/ctl; echo again > $M/f/input; timeout 30 cat $M/f/output
            """)
        #expect(r.stdout.contains("rc1=1"), "first reader fails: \(r)")
        #expect(r.stdout.contains("rc2=0"), "EIO only once: \(r)")
        #expect(r.stdout.contains("\n1\n"), "one error line: \(r)")
        #expect(r.stdout.hasSuffix("again\n"), "the socket goes on: \(r)")
        #expect(r.stderr.contains("Input/output error"), "\(r)")
    }

    /// tail -f polls a FUSE file once a second (coreutils treats FUSE as remote): real time, so
    /// the waits are for events (tail has printed what was there; the new exchange shows up)
    /// and 30 s only bounds a failure. How long it took is printed, not asserted.
    @Test("tail -f transcript shows a new exchange")
    func tailFollowsTranscript() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/t; echo first > $M/t/input; cat $M/t/output >/dev/null
                tail -f $M/t/transcript > $M.tail & tailpid=$!
                for i in $(seq 1 600); do [ "$(grep -cx first $M.tail)" = 2 ] && break; sleep 0.05; done
                echo "following: $(grep -cx first $M.tail)"
                echo marker-$$ > $M/t/input; start=$(date +%s%N)
                for i in $(seq 1 600); do
                  if [ "$(grep -c marker-$$ $M.tail)" = 2 ]; then echo "seen after $(( ($(date +%s%N) - start) / 1000000 )) ms"; break; fi
                  sleep 0.05
                done
                kill $tailpid; wait; rm -f $M.tail
                """)
            print("tail -f: \(r.stdout.split(separator: "\n").filter { $0.hasPrefix("seen after") }.joined())")
            #expect(r.stdout.contains("following: 2\n"), "\(r)")
            #expect(r.stdout.contains("seen after"), "\(r)")
        }
    }

    @Test("ctl shows the SPEC keys; a bad command fails with EINVAL and says why in error")
    func controlFile() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/c; cat $M/c/ctl
                echo 'bogus' > $M/c/ctl; echo "rc=$?"
                echo 'model nope/nope' > $M/c/ctl; echo "rc=$?"
                printf 'headers on\\nset nonsense 1\\n' > $M/c/ctl; echo "rc=$?"
                grep headers: $M/c/ctl
                cat $M/c/error
                echo 'headers on' > $M/c/ctl; echo hi > $M/c/input; timeout 5 cat $M/c/output
                echo 'state unresponsive' > $M/c/ctl; echo x > $M/c/input; echo "rc-unresponsive=$?"
                """)
            for key in ["name", "model", "state", "created", "last-activity", "queued", "in-flight", "unread-bytes",
                        "messages", "tokens-in", "tokens-out", "wire", "headers", "owner", "last-latency", "errors"] {
                #expect(r.stdout.contains("\n\(key): ") || r.stdout.hasPrefix("\(key): "), "missing \(key): \(r)")
            }
            #expect(r.stdout.components(separatedBy: "rc=1").count == 4, "three refusals: \(r)")
            #expect(r.stdout.contains("headers: off"), "all or nothing: \(r)")
            #expect(r.stdout.contains("ctl unknown command 'bogus'"), "\(r)")
            #expect(r.stdout.contains("ctl unknown model 'nope/nope'"), "\(r)")
            #expect(r.stdout.contains("ctl unknown setting 'nonsense'"), "\(r)")
            #expect(r.stdout.contains("[team-chat-from-c]\nhi\n"), "\(r)")
            #expect(r.stdout.contains("rc-unresponsive=1"), "\(r)")
            #expect(r.stderr.contains("Host is down"), "\(r)")
        }
    }

    @Test("reset clears queue, output and context; cancel ends the reply in flight")
    func resetAndCancel() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/r; echo 'model echo/slow' > $M/r/ctl
                # Both replies take 10 s (50 words): each is still in flight when cancel and
                # reset come, however slow the machine. Waits are for events, bounded by 30 s.
                echo "$(seq 1 50 | tr '\\n' ' ')" > $M/r/input; echo "second $(seq 1 50 | tr '\\n' ' ')" > $M/r/input
                for i in $(seq 1 300); do grep -qx 'in-flight: 1' $M/r/ctl && break; sleep 0.1; done
                echo cancel > $M/r/ctl
                for i in $(seq 1 300); do grep -qx 'queued: 0' $M/r/ctl && grep -qx 'in-flight: 1' $M/r/ctl && break; sleep 0.1; done
                grep -E '^(queued|in-flight):' $M/r/ctl
                echo reset > $M/r/ctl; grep -E '^(queued|in-flight|unread-bytes):' $M/r/ctl
                timeout 5 cat $M/r/output; echo "rc=$?"
                grep -c cancelled $M/r/error; grep -c '^\\[reset\\]' $M/r/transcript
                """)
            #expect(r.stdout.contains("queued: 0\nin-flight: 1\n"), "second message started after cancel: \(r)")
            #expect(r.stdout.contains("queued: 0\nin-flight: 0\nunread-bytes: 0\n"), "\(r)")
            #expect(r.stdout.contains("rc=0"), "\(r)")
            #expect(r.stdout.hasSuffix("2\n1\n"), "two cancellations (cancel, reset), one reset: \(r)")
        }
    }

    @Test("prompt is read/write; >> appends")
    func promptFile() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/p; printf 'You are Apollo.\\nBe brief.\\n' > $M/p/prompt; cat $M/p/prompt
                echo 'Third line.' >> $M/p/prompt; cat $M/p/prompt; stat -c %s $M/p/prompt
                : > $M/p/prompt; stat -c %s $M/p/prompt
                """)
            #expect(r.stdout == "You are Apollo.\nBe brief.\nYou are Apollo.\nBe brief.\nThird line.\n38\n0\n", "\(r)")
        }
    }
}
