import Foundation
import Testing

/// The long abuse tests of issue 23. Their suite name ends in `LoadTests`, so `./mount --test`
/// runs them in its second pass with the other CPU-heavy tests, away from the tests that time.
@Suite("Mounted: bounded under abuse (long)", .serialized)
struct AbuseLoadTests {
    @Test("one process churns mkdir/rmdir for 20 s beside round trips on another socket: p99 under 100 ms (or 5x alone), RSS within 30 MiB, idle within 2 s; the same with the churner as a second uid",
          .enabled(if: getuid() == 0, "needs root to mount with allow_other and to switch to a second uid"))
    func churn() async throws {
        for churner in [nil, 65534] as [Int?] {
            try await MountedAIFS.with(options: "allow_other") { mount in
                let who = churner.map { " --churn-uid \($0)" } ?? ""
                let r = await Shell.run("python3 '\(Shell.directory)/churn_driver.py' '\(mount.mountpoint)' \(mount.pid) 20\(who)",
                                        timeout: 600)
                print("churner uid \(churner.map(String.init) ?? "0 (the same as the quiet socket's)"): \(r.stdout)")
                #expect(r.status == 0 && r.stdout.contains(", errors {}\n"), "\(r)")
                let line = try #require(r.stdout.split(separator: "\n").first { $0.hasPrefix("RESULT ") }, "\(r)")
                let result = try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
                let alone = try #require(result["alone_p99_ms"] as? Double), busy = try #require(result["churn_p99_ms"] as? Double)
                #expect(busy < 100 || busy <= 5 * alone, "round-trip p99 \(busy) ms beside the churn, \(alone) ms alone")
                let start = try #require(result["rss_start_mib"] as? Double), peak = try #require(result["rss_max_mib"] as? Double)
                #expect(peak - start < 30, "RSS \(start) -> \(peak) MiB")
                let idle = try #require(result["idle_after_s"] as? Double)
                #expect(idle < 2, "idle \(idle) s after the churn stopped")
                #expect(result["churner_ok"] as? Bool == true)
            }
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
