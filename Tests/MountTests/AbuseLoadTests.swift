import Foundation
import Testing

/// The long abuse tests of issue 23. Their suite name ends in `LoadTests`, so `./mount --test`
/// runs them in its second pass with the other CPU-heavy tests, away from the tests that time.
@Suite("Mounted: bounded under abuse (long)", .serialized)
struct AbuseLoadTests {
    @Test("one process churns mkdir/rmdir for 20 s beside round trips on another socket: their p99 printed, RSS within 30 MiB, idle within 2 s; the same with the churner as a second uid, and with 16 of them",
          .enabled(if: getuid() == 0, "needs root to mount with allow_other and to switch to a second uid"))
    func churn() async throws {
        // The acceptance's two cases, and a flood of 16 processes of the second uid.
        for (churner, processes) in [(nil, 1), (65534, 1), (65534, 16)] as [(Int?, Int)] {
            try await MountedAIFS.with(options: "allow_other") { mount in
                let who = (churner.map { " --churn-uid \($0)" } ?? "") + " --churners \(processes)"
                let r = await Shell.run("python3 '\(Shell.directory)/churn_driver.py' '\(mount.mountpoint)' \(mount.pid) 20\(who)",
                                        timeout: 600)
                print("\(processes) churner(s) of uid \(churner.map(String.init) ?? "0 (the same as the quiet socket's)"): \(r.stdout)")
                #expect(r.status == 0 && r.stdout.contains(", errors {}\n"), "\(r)")
                let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("RESULT ") }, "\(r)")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
                let alone = try #require(result["alone_p99_ms"] as? Double), busy = try #require(result["churn_p99_ms"] as? Double)
                // How slow the quiet socket gets is the machine's speed (two vCPUs shared with
                // the churners and other tests): a printed figure, not a check.
                print("figure: round-trip p99 \(busy) ms beside the churn, \(alone) ms alone (\(busy < 100 || busy <= 5 * alone ? "within" : "beyond") the goal of 100 ms or 5x)")
                let start = try #require(result["rss_start_mib"] as? Double), peak = try #require(result["rss_max_mib"] as? Double)
                #expect(peak - start < 30, "RSS \(start) -> \(peak) MiB")
                let idle = try #require(result["idle_after_s"] as? Double)
                #expect(idle < 2, "idle \(idle) s after the churn stopped")
                #expect(result["churner_ok"] as? Bool == true)
            }
        }
    }

    @Test("stress-ng's file-system stressors, 5 s on the mount root and 5 s in a socket, beside a writer: the daemon answers after, every acknowledged message has its outcome, RSS within 20 MiB",
          .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/stress-ng"), "needs Debian's stress-ng (apt-get install stress-ng)"))
    func stressNG() async throws {
        try await MountedAIFS.with { mount in
            let r = await mount.sh("""
                D=$(mktemp -d); trap 'rm -rf $D' EXIT; cd $D
                PID=\(mount.pid); rss() { awk '/^VmRSS:/ {print $2}' /proc/$PID/status; }
                mkdir $M/keep && echo warm > $M/keep/input && cat $M/keep/output >/dev/null
                rss0=$(rss)
                # A writer of acknowledged messages through both runs.
                ( n=0; while [ ! -e $D/stop ]; do
                    ACKED=$D/acked python3 $AIFS_TESTS/acknowledged.py send $M keep $(seq -f "m$n-%g" 1 20) >/dev/null
                    n=$((n + 1)); done ) & writer=$!
                for where in $M $M/keep; do
                    timeout 120 stress-ng --dir 1 --dentry 1 --dirmany 1 --rename 1 --open 1 --fstat 1 --getdent 1 \\
                        --io 1 --mmap 1 --splice 1 --temp-path $where -t 5s >$D/stress.log 2>&1
                    status=$?
                    echo "stress-ng in ${where#$M}/: exit $status, $(grep -c ' fail: ' $D/stress.log) failed operations logged"
                    [ $status = 124 ] && { echo "stress-ng hung"; tail -20 $D/stress.log; }
                done
                touch $D/stop; wait $writer
                # This test's stress-ng processes (named by their --temp-path; a CPU hog beside
                # the test is another stress-ng) are all gone: none hangs, in state D or otherwise.
                pgrep -af -- "--temp-path $M" | sed 's/^/left running: /'
                echo "acknowledged while stressed: $(wc -l < $D/acked)"
                python3 $AIFS_TESTS/acknowledged.py check $M $D/acked 120
                echo after > $M/keep/input && echo "answers: $(tail -n 1 $M/keep/output)"
                ls $M | grep -c '^tmp-stress-ng' | sed 's/^/stress-ng directories left: /'
                echo "rss: $rss0 -> $(rss) KiB"
                """, timeout: 600)
            print(r.stdout)
            #expect(r.status == 0 && r.stdout.contains("answers: after\n"), "\(r)")
            #expect(!r.stdout.contains("stress-ng hung") && !r.stdout.contains("left running: "), "\(r)")
            #expect(r.stdout.contains("stress-ng directories left: 0\n"), "\(r)")
            #expect(r.stdout.contains(" 0 missing, 0 without an outcome, 0 wrong replies, 0 with two outcomes"), "\(r)")
            let acked = r.stdout.split(separator: "\n").first { $0.hasPrefix("acknowledged while stressed: ") }
            #expect((acked.flatMap { Int($0.split(separator: " ").last!) } ?? 0) > 0, "the writer ran: \(r)")
            let rss = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("rss: ") }, "\(r)").split(separator: " ")
            let (before, after) = (Int(rss[1]) ?? 0, Int(rss[3]) ?? Int.max)
            #expect(after - before < 20 << 10, "RSS \(before) -> \(after) KiB")
        }
    }

    @Test("after 10,000 mkdir/rmdir cycles, with searches reading the store meanwhile, the -wal file stayed under 16 MiB")
    func walStaysSmall() async throws {
        try await MountedAIFS.with { mount in
            let wal = mount.storePath + "-wal"
            let r = await Shell.python("""
                import os, sys, threading
                M, WAL = sys.argv[1], \(String(reflecting: wal))
                biggest, done = [0], threading.Event()

                def churn(name, cycles):
                    for i in range(cycles):
                        os.mkdir(f"{M}/{name}")
                        with open(f"{M}/{name}/input", "w") as f:
                            f.write(f"{name} message {i}\\n")
                        os.rmdir(f"{M}/{name}")

                def watch():  # the WAL's size, and readers of the store meanwhile
                    n = 0
                    while not done.is_set():
                        biggest[0] = max(biggest[0], os.path.getsize(WAL) if os.path.exists(WAL) else 0)
                        os.listdir(f"{M}/memory/search/message{n % 7}")
                        n += 1

                watcher = threading.Thread(target=watch)
                watcher.start()
                pids = []
                for name in ("c1", "c2"):  # two processes, 5,000 cycles each
                    pid = os.fork()
                    if pid == 0:
                        churn(name, 5000)
                        os._exit(0)
                    pids.append(pid)
                ok = all(os.waitpid(p, 0)[1] == 0 for p in pids)
                done.set()
                watcher.join()
                biggest[0] = max(biggest[0], os.path.getsize(WAL))
                print(f"churners ok {ok}; biggest -wal {biggest[0]} bytes, now {os.path.getsize(WAL)}")
                sys.exit(0 if ok else 1)
                """, mountpoint: mount.mountpoint, timeout: 900)
            print(r.stdout)
            #expect(r.status == 0, "\(r)")
            let figures = r.stdout.split(separator: " ")
            let biggest = figures.firstIndex(of: "-wal").flatMap { Int(figures[$0 + 1]) }
            #expect(biggest != nil && biggest! < 16 << 20, "\(r)")
            // A snapshot commits after everything queued before it: then nothing is left.
            let ctl = await mount.sh("mkdir $M/snapshots/after && cat $M/ctl")
            #expect(ctl.stdout.contains("store-backlog: 0"), "\(ctl)")
        }
    }
}
