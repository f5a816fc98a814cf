import Foundation
import Testing

/// The acceptance list of "Durable store and memory search", through real mounts: `aifs mount`,
/// `kill -9`, `aifs unmount` and the same store mounted again. Each script gets a store of its
/// own (`AIFS_STORE_PATH`, see ``Shell``) and unmounts on exit.
@Suite("Mounted: durable store and memory search", .serialized)
struct DurabilityTests {
    /// Runs `body` (bash) with `M` a fresh mountpoint; always unmounts and removes it.
    func script(_ body: String, timeout: Double = 120) async -> Shell.Result {
        let dir = MountedAIFS.makeTempDirectory("aifs-dur")
        let r = await Shell.run("""
            M=\(dir)
            trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null; rmdir $M 2>/dev/null' EXIT
            \(body)
            """, timeout: timeout)
        _ = await Shell.run("grep -q ' \(dir) ' /proc/mounts && umount -l '\(dir)'; rmdir '\(dir)' 2>/dev/null")
        return r
    }

    @Test("kill -9 at 5 moments while 1,000 messages go to 50 sockets: every acknowledged message is kept and answered")
    func crashesLoseNothingAcknowledged() async throws {
        let program = """
            import os, random, signal, subprocess, sys, threading, time
            AIFS, M = os.environ["AIFS"], os.environ["M"]
            TOTAL, SOCKETS, WRITERS, KILLS = 1000, 50, 8, 5

            def mount():
                subprocess.run([AIFS, "mount", M], check=True, stdout=subprocess.DEVNULL)
                return time.monotonic()

            def daemon_pid():
                for line in open(f"{M}/ctl"):
                    if line.startswith("pid:"):
                        return int(line.split()[1])

            mount()
            names = [f"s{i}" for i in range(SOCKETS)]
            for name in names:
                os.mkdir(f"{M}/{name}")
            acked, lock = [], threading.Lock()
            to_send = list(range(TOTAL))  # a message that was not acknowledged is sent again

            def writer():
                while True:
                    with lock:
                        if not to_send:
                            return
                        n = to_send.pop(0)
                    name = names[n % SOCKETS]
                    text = f"msg-{n}-{name}"
                    try:
                        fd = os.open(f"{M}/{name}/input", os.O_WRONLY)
                        try:
                            os.write(fd, (text + "\\n").encode())
                        finally:
                            os.close(fd)  # 0 here means: durably queued
                    except OSError:
                        with lock:
                            to_send.insert(0, n)
                        return  # the daemon is gone
                    with lock:
                        acked.append((name, text))
                    time.sleep(random.uniform(0.005, 0.025))  # writers keep running while the kill comes

            def unanswered():
                missing = []
                transcripts = {}
                for name, text in acked:
                    if name not in transcripts:
                        transcripts[name] = open(f"{M}/{name}/transcript").read()
                    if transcripts[name].count(f"\\n{text}\\n") < 2:  # the input and its reply
                        missing.append(text)
                return missing

            for round in range(KILLS + 1):
                threads = [threading.Thread(target=writer) for _ in range(WRITERS)]
                for t in threads:
                    t.start()
                if round < KILLS:
                    time.sleep(random.uniform(0.05, 0.35))
                    with lock:
                        running = len(to_send) > 0
                    os.kill(daemon_pid(), signal.SIGKILL)
                    print(f"kill {round} while writers run: {running}")
                for t in threads:
                    t.join()
                if round < KILLS:
                    time.sleep(0.2)
                    remounted = mount()
                else:
                    remounted = time.monotonic()
                while True:
                    missing = unanswered()
                    waited = time.monotonic() - remounted
                    if not missing or waited > 60:  # bounds a failure only: a busy machine answers later
                        break
                    time.sleep(0.1)
                print(f"round {round}: acked {len(acked)} so far, unanswered {len(missing)} after {waited:.2f}s {missing[:5]}")
                if missing:
                    sys.exit(1)
            print(f"total acked {len(acked)}")
            """
        let path = NSTemporaryDirectory() + "aifs-crash-\(UUID().uuidString.prefix(8)).py"
        try program.write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = await script("export M; python3 \(path)", timeout: 300)
        print(r.stdout)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("round 5: acked 1000 so far, unanswered 0"), "\(r)")
        #expect(r.stdout.components(separatedBy: "unanswered 0 ").count - 1 == 6, "\(r)")
        #expect(r.stdout.components(separatedBy: "while writers run: True").count - 1 == 5, "\(r)")
    }

    @Test("kill -9 during a slow reply: after the remount it is answered again from the start and error says so")
    func interruptedReplyIsRerun() async throws {
        let r = await script("""
            $AIFS mount $M >/dev/null
            mkdir $M/slow; echo 'model echo/slow' > $M/slow/ctl
            echo 'one two three four five six' > $M/slow/input
            echo 'queued behind it' > $M/slow/input
            head -c 4 $M/slow/output; echo
            pid=$(grep '^pid:' $M/ctl | cut -d' ' -f2); kill -9 $pid
            python3 $AIFS_TESTS/wait_exit.py $pid 30 >/dev/null  # gone (or a zombie): its pidfd, no polling
            $AIFS mount $M >/dev/null 2>&1
            timeout 20 cat $M/slow/output; echo "rc=$?"
            cut -d' ' -f2- $M/slow/error
            grep -c '^\\[team-chat-from-slow\\]' $M/slow/transcript
            """)
        #expect(r.stdout.hasPrefix("one \none two three four five six\nqueued behind it\nrc=0\n"), "\(r)")
        #expect(r.stdout.contains("restart message 1 was in flight when the daemon stopped; its partial reply was discarded and it is answered again\n2\n"), "\(r)")
    }

    @Test("under load, writes from many sockets share transactions")
    func writesAreBatched() async throws {
        let r = await script("""
            $AIFS mount $M >/dev/null
            for i in 1 2 3 4 5 6 7 8; do mkdir $M/w$i; done
            before=$(grep '^store-writes:' $M/ctl)
            for i in 1 2 3 4 5 6 7 8; do
              (for n in $(seq 1 50); do echo "load $i $n" > $M/w$i/input; done) &
            done
            wait
            for i in 1 2 3 4 5 6 7 8; do cat $M/w$i/output | wc -l; done | sort -u
            echo "$before"; grep '^store-writes:' $M/ctl
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.hasPrefix("50\n"), "every reply arrived: \(r)")
        let numbers = r.stdout.split(separator: "\n").filter { $0.hasPrefix("store-writes:") }
            .map { $0.split(separator: " ").compactMap { Int($0) } }
        try #require(numbers.count == 2 && numbers.allSatisfy { $0.count == 2 }, "\(r)")
        let groups = numbers[1][0] - numbers[0][0], transactions = numbers[1][1] - numbers[0][1]
        print("400 messages on 8 sockets: \(groups) groups of events in \(transactions) transactions")
        #expect(groups >= 1200, "each message: commit, start, end: \(r)")
        #expect(transactions < groups, "\(r)")
    }

    @Test("after a clean unmount and remount, ls, each ctl, prompt, unread output and errors are as they were")
    func cleanRestartKeepsEverything() async throws {
        let r = await script("""
            $AIFS mount $M >/dev/null
            mkdir $M/alpha $M/beta $M/gamma
            echo 'You are Beta.' > $M/beta/prompt
            printf 'set temperature 0.3\\nheaders on\\nstate inactive\\n' > $M/beta/ctl
            echo 'model echo/slow' > $M/gamma/ctl
            echo 'first reply' > $M/beta/input; echo 'second reply' > $M/beta/input
            echo 'read me' > $M/alpha/input; cat $M/alpha/output >/dev/null
            echo bogus > $M/alpha/ctl 2>/dev/null
            while grep -q '^in-flight: 1' $M/beta/ctl || grep -q '^queued: [1-9]' $M/beta/ctl; do sleep 0.05; done
            python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDONLY); print(os.read(fd, 10)); os.close(fd)' $M/beta/output
            # `last-latency` and `errors` are this daemon's own figures, not stored (file-protocol.md).
            snap() { ls $M; for s in alpha beta gamma; do grep -v -e '^last-latency:' -e '^errors:' $M/$s/ctl; cat $M/$s/prompt; done; }
            snap > $M.before
            $AIFS unmount $M >/dev/null
            $AIFS mount $M >/dev/null
            snap > $M.after
            cmp $M.before $M.after && echo same-state
            rm -f $M.before $M.after
            echo "--- beta output"; cat $M/beta/output
            echo "--- alpha error"; cat $M/alpha/error
            echo "--- transcript entries: $(grep -c '^\\[team-chat-' $M/beta/transcript)"
            """)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("b'[team-chat'"), "\(r)")
        #expect(r.stdout.contains("same-state"), "\(r)")
        #expect(r.stdout.contains("--- beta output\n-from-beta]\nfirst reply\n[team-chat-from-beta]\nsecond reply\n--- alpha error\n"), "\(r)")
        #expect(r.stdout.contains(" ctl unknown command 'bogus'"), "\(r)")
        #expect(r.stdout.contains("--- transcript entries: 4"), "\(r)")
    }

    @Test("memory/search finds words across sockets and restarts; phrases, OR, prefixes; a bad query is an error")
    func memorySearchMounted() async throws {
        let r = await script("""
            $AIFS mount $M >/dev/null
            mkdir $M/ops $M/dev
            echo 'how do I install nginx on debian' > $M/ops/input; cat $M/ops/output >/dev/null
            echo 'the reverse proxy sends traffic upstream' > $M/dev/input; cat $M/dev/output >/dev/null
            $AIFS unmount $M >/dev/null; $AIFS mount $M >/dev/null
            echo 'unrelated after the restart' > $M/dev/input; cat $M/dev/output >/dev/null
            echo "--- nginx"; cat "$M/memory/search/nginx install" | cut -f3,4,5
            echo "--- phrase"; cat "$M/memory/search/\\"reverse proxy\\"" | cut -f3,4 | sort -u
            echo "--- or"; cat "$M/memory/search/debian OR upstream" | cut -f3 | sort | uniq -c | awk '{print $2, $1}'
            echo "--- prefix"; cat "$M/memory/search/restar*" | wc -l
            echo "--- columns"; cat "$M/memory/search/nginx" | head -1 | awk -F'\\t' '{print NF, length($1)}'
            echo "--- bad"; cat "$M/memory/search/\\"unbalanced"; echo "rc=$?"
            echo "--- still working"; echo ok > $M/ops/input; cat $M/ops/output
            echo "--- none"; cat "$M/memory/search/zzzznothing" | wc -l
            ls $M/memory/search | wc -l
            """)
        let out = r.stdout
        #expect(out.contains("--- nginx\nops\tinput\thow do I install nginx on debian\nops\treply\thow do I install nginx on debian\n")
                || out.contains("--- nginx\nops\treply\thow do I install nginx on debian\nops\tinput\thow do I install nginx on debian\n"), "\(r)")
        #expect(out.contains("--- phrase\ndev\tinput\ndev\treply\n"), "\(r)")
        #expect(out.contains("--- or\ndev 2\nops 2\n"), "\(r)")
        #expect(out.contains("--- prefix\n2\n"), "\(r)")
        #expect(out.contains("--- columns\n5 16\n"), "\(r)")
        #expect(out.contains("--- bad\naifs: bad search query: "), "\(r)")
        #expect(r.stderr.contains("Invalid argument"), "\(r)")
        #expect(out.contains("rc=1\n--- still working\nok\n"), "\(r)")
        #expect(out.contains("--- none\n0\n0\n"), "\(r)")
    }
}
