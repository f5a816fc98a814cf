import Foundation
import Testing

/// One namespace across several daemons (`[store] backend = "redis"`): a real `redis-server` on
/// loopback and two or three daemons on their own mountpoints, each with its own local replica,
/// as separate hosts would be.
@Suite("Mounted: a Redis-backed namespace across daemons", .serialized)
struct ClusterTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path
    static var redisAvailable: Bool { FileManager.default.isExecutableFile(atPath: "/usr/bin/redis-server") }

    /// Runs `body` with a redis-server on `$REDIS_PORT` (AOF in `$D/redis`), three config files
    /// `$D/c.toml` (echo models) and helpers: `up NAME [CONFIG]` mounts `$D/NAME` with its own
    /// store, `down NAME` unmounts it, `pid_of NAME`, and `synced NAME`, which returns once NAME
    /// has applied everything logged before it (a team-chat ctl write of the default timeout is
    /// logged and waited for there: an event, not a delay). Everything is stopped on exit.
    /// Bash for a ``cluster(_:extraConfig:timeout:)`` body: starts the fake model server (its
    /// pid in `$SERVER`, which the cluster's cleanup stops, its port in `$PORT`) and adds it to
    /// the daemons' configuration as the OpenAI provider `fo` with `models`.
    static func fakeProvider(_ models: [String]) -> String {
        let list = models.map { "\"\($0)\"" }.joined(separator: ", ")
        return """
            mkfifo $D/ready
            python3 '\(directory)/fake_model_server.py' $D/port /dev/null --ready $D/ready & SERVER=$!
            read -r PORT < $D/ready  # once the server listens
            printf '[providers.fo]\\nkind = "openai"\\nbase_url = "http://127.0.0.1:%s/v1"\\nmodels = [%s]\\n' $PORT '\(list)' >> $D/c.toml
            """
    }

    func cluster(_ body: String, extraConfig: String = "", timeout: Double = 120) async -> Shell.Result {
        let dir = MountedAIFS.makeTempDirectory("aifs-cluster")
        let r = await Shell.run("""
            D=\(dir); mkdir -p $D/redis
            REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
            start_redis() { redis-server --port $REDIS_PORT --bind 127.0.0.1 --dir $D/redis --appendonly yes --appendfsync always \\
                --save '' --daemonize yes --pidfile $D/redis.pid --logfile $D/redis.log; \\
                for i in $(seq 1 100); do redis-cli -p $REDIS_PORT ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
            start_redis || { echo "redis did not start"; exit 1; }
            printf '[store]\\nbackend = "redis"\\nurl = "redis://127.0.0.1:%s/0"\\n%s\\n' $REDIS_PORT '\(extraConfig)' > $D/c.toml
            up() { mkdir -p $D/$1; $AIFS mount $D/$1 --config ${2:-$D/c.toml} --store $D/$1.store/aifs.db >/dev/null; }
            down() { $AIFS unmount $D/$1 >/dev/null 2>&1 || umount -l $D/$1 2>/dev/null; }
            pid_of() { grep '^pid:' $D/$1/ctl | cut -d' ' -f2; }
            synced() { echo 'timeout 300' > $D/$1/team-chat-all/ctl; }
            cleanup() {
                for m in $D/*/; do [ -f "$m/ctl" ] && { $AIFS unmount "$m" >/dev/null 2>&1 || umount -l "$m"; }; done
                for m in $(grep " $D/" /proc/mounts | cut -d' ' -f2); do umount -l $m; done
                redis-cli -p $REDIS_PORT shutdown nosave >/dev/null 2>&1
                [ -n "${SERVER:-}" ] && kill $SERVER 2>/dev/null
            }
            trap cleanup EXIT
            \(body)
            """, timeout: timeout)
        _ = await Shell.run("for m in $(grep ' \(dir)/' /proc/mounts | cut -d' ' -f2); do umount -l $m; done; rm -rf '\(dir)'")
        return r
    }

    /// How soon B lists A's mkdir is a figure here (goal: under 1 s), not a check: a loaded
    /// machine (CI beside the whole parallel suite) once took longer, and was not wrong.
    @Test("mkdir on A shows in ls on B (the time is a figure); a message written on B is answered on A; transcripts, search and snapshots agree",
          .enabled(if: redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func oneNamespace() async {
        let r = await cluster("""
            up A && up B || exit 1
            mkdir $D/A/apollo
            start=$(date +%s%N); until ls $D/B | grep -qx apollo; do sleep 0.02; done
            echo "visible on B"; echo "figure: B listed A's mkdir after $(( ($(date +%s%N) - start) / 1000000 )) ms (goal under 1 s)" >&2
            echo 'What is a file?' > $D/B/apollo/input
            timeout 10 cat $D/A/apollo/output; echo "rc=$?"
            echo "B reads its own copy: $(timeout 5 cat $D/B/apollo/output)"   # output is consumed per mount
            python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_RDWR); os.write(fd, b"private on B\\n"); print("chat on B:", os.read(fd, 100)); os.close(fd)' $D/B/apollo/chat
            cmp $D/A/apollo/transcript $D/B/apollo/transcript && echo same-transcript
            cut -f3,4 "$D/B/memory/search/file" | sort | tr '\\n' ' '; echo
            grep '^owned:' $D/A/ctl $D/B/ctl | sed "s|$D/||"
            # A applies B's snapshot when its tailer reaches it (docs/distributed.md). A read at the
            # end of A's output waits until A has applied everything in the log: the event to wait for.
            mkdir $D/B/snapshots/s1 && timeout 10 cat $D/A/apollo/output
            ls $D/A/snapshots
            rm -r $D/A/apollo; until ! ls $D/B | grep -qx apollo; do sleep 0.02; done; echo removed-on-B
            echo 'restore s1' > $D/B/ctl && until [ -f $D/A/apollo/transcript ]; do sleep 0.02; done
            grep -c '^\\[restore\\]' $D/A/apollo/transcript
            # apollo came back without an owner: some daemon takes it within a lease period (the script's timeout bounds a failure).
            # The count that ended the wait is the one printed: read again later, a keeper tick delayed past
            # the 3 s lease on a loaded machine can show the old and the new owner for a moment (CI saw 2).
            until owners=$(( $(grep -h '^owned:' $D/A/ctl $D/B/ctl | cut -d' ' -f2 | paste -sd+) )); [ $owners -eq 1 ]; do sleep 0.05; done
            echo "owners after the restore: $owners"
            echo again > $D/A/apollo/input; timeout 5 cat $D/B/apollo/output
            """)
        print(r.stderr.split(separator: "\n").filter { $0.hasPrefix("figure:") }.joined(separator: "\n"))
        #expect(r.stdout.contains("visible on B\nWhat is a file?\nrc=0\nB reads its own copy: What is a file?\nchat on B: b'private on B\\n'\nsame-transcript\napollo\tinput apollo\treply \n"), "\(r)")
        #expect(r.stdout.contains("A/ctl:owned: 1\nB/ctl:owned: 0\ns1\nremoved-on-B\n1\nowners after the restore: 1\nagain\n"),
                "the daemon that made apollo answers it; after the restore one daemon does: \(r)")
    }

    @Test("a broadcast from B reaches sockets owned by A and C, and B's team-chat-all/output collects every reply",
          .enabled(if: redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func broadcastAcrossDaemons() async {
        let r = await cluster("""
            up A && up B && up C || exit 1
            mkdir $D/A/alpha; mkdir $D/C/gamma
            until ls $D/B | grep -qx gamma && ls $D/B | grep -qx alpha; do sleep 0.02; done
            grep '^owned:' $D/A/ctl $D/B/ctl $D/C/ctl | sed "s|$D/||"
            echo 'hello team' > $D/B/team-chat-all/input
            timeout 10 cat $D/B/team-chat-all/output | sort | tr '\\n' ' '; echo
            grep -c '^\\[team-chat-from-alpha\\]' $D/C/alpha/transcript
            """)
        #expect(r.stdout.contains("A/ctl:owned: 1\nB/ctl:owned: 0\nC/ctl:owned: 1\n"), "\(r)")
        #expect(r.stdout.contains("[team-chat-from-alpha] [team-chat-from-gamma] hello team hello team \n1\n"), "\(r)")
    }

    @Test("compact asked on B, answered by A (the owner): both daemons hold the same context, history and forks",
          .enabled(if: redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func compactionAcrossDaemons() async {
        let r = await cluster("""
            up A && up B || exit 1
            mkdir $D/A/s; synced B
            for n in 1 2 3 4; do echo "question $n" > $D/A/s/input; timeout 10 cat $D/A/s/output >/dev/null; done
            echo compact > $D/B/s/ctl || exit 1
            echo 'question 5' > $D/B/s/input
            timeout 10 cat $D/A/s/output; timeout 10 cat $D/B/s/output >/dev/null   # B: once it has applied the log
            head -n 2 $D/B/s/context
            cmp $D/A/s/context $D/B/s/context && echo same-context
            cmp $D/A/s/transcript $D/B/s/transcript && echo same-transcript
            echo 'fork f 2' > $D/B/s/ctl; synced A
            echo uncompact > $D/A/s/ctl; echo 'question 6' > $D/A/s/input; timeout 10 cat $D/A/s/output >/dev/null
            timeout 10 cat $D/B/s/output >/dev/null
            cmp $D/A/s/context $D/B/s/context && echo same-uncompacted
            grep -c '^\\[user\\]' $D/A/s/context
            cmp $D/A/f/context $D/B/f/context && echo same-fork; grep -c '^\\[user\\]' $D/B/f/context
            """)
        #expect(r.stdout.contains("question 5\n[user]\n[summary of 4 earlier turns]\n"), "\(r)")
        #expect(r.stdout.contains("same-context\nsame-transcript\nsame-uncompacted\n6\nsame-fork\n2\n"), "\(r)")
    }

    /// How long the takeover and the 85-odd remaining replies take is real time on a shared
    /// machine (leases lapse after 3 s; then each reply is a provider call and log round trips):
    /// it is printed as a figure, and 60 s only bounds a failure (a busy 2-core machine took
    /// 10.6 s where a quiet one takes about 5).
    @Test("kill -9 the owner while 100 messages are queued: another daemon answers all; none lost, none answered twice (counted at the fake provider)",
          .enabled(if: redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func takeover() async {
        let r = await cluster("""
            mkfifo $D/ready
            python3 '\(Self.directory)/fake_model_server.py' $D/port $D/requests.log 0.005 --ready $D/ready & SERVER=$!
            read -r _ < $D/ready  # once the server listens
            printf '[providers.fo]\\nkind = "openai"\\nbase_url = "http://127.0.0.1:%s/v1"\\nmodels = ["fast"]\\n' $(cat $D/port) >> $D/c.toml
            up A && up B || exit 1
            mkdir $D/B/bob; echo 'model fo/fast' > $D/B/bob/ctl
            until ls $D/A | grep -qx bob; do sleep 0.02; done
            python3 - $D/A/bob/input <<'PY'
            import os, sys
            for n in range(1, 101):
                fd = os.open(sys.argv[1], os.O_WRONLY)
                os.write(fd, b"m%03d one two\\n" % n)
                os.close(fd)  # acknowledged: in the log
            PY
            sleep 0.3
            echo "figure: $(grep -c '^\\[team-chat-from-bob\\]' $D/A/bob/transcript) of 100 answered before the kill;" >&2
            kill -9 $(pid_of B); killed=$(date +%s%N)
            until [ "$(grep -c '^\\[team-chat-from-bob\\]' $D/A/bob/transcript)" -ge 100 ] || [ $(( ($(date +%s%N) - killed) / 1000000000 )) -ge 60 ]; do sleep 0.1; done
            echo "all answered after the kill: $(( $(grep -c '^\\[team-chat-from-bob\\]' $D/A/bob/transcript) >= 100 ))"
            echo "figure: last reply $(( ($(date +%s%N) - killed) / 1000000 )) ms after the kill" >&2
            python3 - $D/A/bob/transcript $D/requests.log <<'PY'
            import collections, json, re, sys
            transcript = open(sys.argv[1]).read()
            replies = re.findall(r"^\\[team-chat-from-bob\\][^\\n]*\\nreply: (m\\d{3}) one two$", transcript, re.M)
            asked = collections.Counter()
            for line in open(sys.argv[2]):
                last = json.loads(line)["contents"][-1]
                m = re.match(r"(m\\d{3})", last)
                if m: asked[m.group(1)] += 1
            print("replies:", len(replies), "distinct:", len(set(replies)))
            print("asked:", len(asked), "asked twice:", sum(1 for v in asked.values() if v > 1), "more:", sum(1 for v in asked.values() if v > 2))
            PY
            grep '^owned:' $D/A/ctl | sed "s|$D/||"
            """)
        print("takeover: \(r.stderr.split(separator: "\n").filter { $0.hasPrefix("figure:") }.joined(separator: " ")) | "
              + r.stdout.split(separator: "\n").filter { $0.hasPrefix("replies") || $0.hasPrefix("asked") }.joined(separator: " | "))
        #expect(r.stdout.contains("all answered after the kill: 1\n"), "\(r)")
        #expect(r.stdout.contains("replies: 100 distinct: 100\n"), "every message answered exactly once: \(r)")
        // The request in flight when the owner died is asked again by the new owner (its partial
        // reply was never delivered as a reply); no other message is.
        #expect(r.stdout.contains("asked: 100 asked twice: 0 more: 0\n") || r.stdout.contains("asked: 100 asked twice: 1 more: 0\n"), "\(r)")
        #expect(r.stdout.contains("owned: 1\n"), "\(r)")
    }

    @Test("restart redis-server (AOF on) under load: writes fail with EIO while it is down, full service after, no acknowledged message lost",
          .enabled(if: redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func redisRestart() async {
        let r = await cluster("""
            up A && up B || exit 1
            mkdir $D/B/s; until ls $D/A | grep -qx s; do sleep 0.02; done
            # The writer drives each step from what it has seen, not from time: after 50 writes
            # acknowledged it stops Redis (SHUTDOWN again until ping fails: on a busy machine one
            # can be slow or refused; AOF is flushed on shutdown), after 20 refused it starts
            # Redis again, and it ends 50 acknowledged writes after that.
            export -f start_redis; export REDIS_PORT D
            python3 - $D/A/s/input $D/acked $D/refused <<'PY'
            import os, subprocess, sys, time
            acked, refused = open(sys.argv[2], "w"), open(sys.argv[3], "w")
            cli = ["redis-cli", "-p", os.environ["REDIS_PORT"]]
            quiet = dict(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            n, ok, failed, phase, back = 0, 0, 0, "up", 0
            while True:
                n += 1
                try:
                    fd = os.open(sys.argv[1], os.O_WRONLY)
                    os.write(fd, b"w%05d\\n" % n)
                    os.close(fd)
                    acked.write("w%05d\\n" % n); acked.flush(); ok += 1
                except OSError as e:
                    refused.write("w%05d %s\\n" % (n, e.strerror)); refused.flush(); failed += 1
                if phase == "up" and ok >= 50:
                    while subprocess.run(cli + ["ping"], **quiet).returncode == 0:
                        subprocess.run(cli + ["shutdown"], **quiet)
                    phase = "down"
                elif phase == "down" and failed >= 20:
                    subprocess.run(["bash", "-c", "start_redis && echo redis-back"], check=True)
                    phase, back = "back", ok
                elif phase == "back" and ok >= back + 50:
                    break
                time.sleep(0.01)
            PY
            expected=$(wc -l < $D/acked)
            until [ "$(grep -c '^\\[team-chat-from-s\\]' $D/A/s/transcript)" -ge "$expected" ]; do sleep 0.1; [ $SECONDS -gt 100 ] && break; done
            python3 - $D/acked $D/refused $D/A/s/transcript $D/B/s/transcript <<'PY'
            import re, sys
            acked = set(open(sys.argv[1]).read().split())
            refused = open(sys.argv[2]).read().splitlines()
            answered_a = set(re.findall(r"^\\[team-chat-from-s\\][^\\n]*\\n(w\\d{5})$", open(sys.argv[3]).read(), re.M))
            answered_b = set(re.findall(r"^\\[team-chat-from-s\\][^\\n]*\\n(w\\d{5})$", open(sys.argv[4]).read(), re.M))
            print("acknowledged:", len(acked), "refused while down:", len(refused), "reasons:", sorted({r.split(" ", 1)[1] for r in refused}))
            print("acknowledged but not answered on A:", len(acked - answered_a), "on B:", len(acked - answered_b))
            PY
            echo 'after the restart' > $D/B/s/input; timeout 5 cat $D/A/s/output | tail -1
            grep -c 'redis unreachable' $D/A/s/error
            """, timeout: 180)
        print("redis restart: " + r.stdout.split(separator: "\n").filter { $0.hasPrefix("acknowledged") }.joined(separator: " | "))
        #expect(r.stdout.contains("redis-back\n"), "\(r)")
        #expect(r.stdout.contains("refused while down:") && !r.stdout.contains("refused while down: 0 "), "writes while down fail: \(r)")
        #expect(r.stdout.contains("reasons: ['Input/output error']"), "\(r)")
        #expect(r.stdout.contains("acknowledged but not answered on A: 0 on B: 0\n"), "\(r)")
        #expect(r.stdout.contains("after the restart\n"), "\(r)")
    }
}
