import Foundation
import Testing

/// Cluster health on real daemons sharing one Redis (``ClusterTests/cluster(_:extraConfig:timeout:)``):
/// `/ai/cluster` on each lists every daemon, `aifs status` shows them, and a daemon killed with
/// `kill -9` is gone from the list, its sockets answered by another, within 10 s (issue 21).
@Suite("Mounted: cluster health across daemons", .serialized)
struct ClusterHealthTests {
    @Test("/ai/cluster on A and B lists both; aifs status shows them; kill -9 B: within 10 s B is gone and A answers B's socket",
          .enabled(if: ClusterTests.redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func membersAndTakeover() async {
        let r = await ClusterTests().cluster("""
            up A && up B || exit 1
            # Each keeper reads the members back every second: wait until both lists hold two daemons.
            until [ "$(grep -c '"pid"' $D/A/cluster)" = 2 ] && [ "$(grep -c '"pid"' $D/B/cluster)" = 2 ]; do sleep 0.05; done
            mkdir $D/B/bee; until ls $D/A | grep -qx bee; do sleep 0.02; done
            until grep -q '"self":true.*' $D/B/cluster && grep '"self":true' $D/B/cluster | grep -q '"sockets":1'; do sleep 0.05; done
            python3 - $D/A/cluster $D/B/cluster $(pid_of A) $(pid_of B) <<'PY'
            import json, sys
            a = [json.loads(line) for line in open(sys.argv[1])]
            b = [json.loads(line) for line in open(sys.argv[2])]
            keys = {"id", "host", "pid", "version", "mountpoint", "started", "heartbeat", "heartbeat_age_ms",
                    "sockets", "position", "lag_ms", "leader", "self"}
            print("fields:", all(set(m) == keys for m in a + b))
            print("same daemons:", sorted(m["id"] for m in a) == sorted(m["id"] for m in b))
            print("pids:", sorted(m["pid"] for m in a) == sorted(int(p) for p in sys.argv[3:5]))
            print("self on A:", [m["pid"] for m in a if m["self"]] == [int(sys.argv[3])])
            print("one leader:", sum(m["leader"] for m in a) == 1)
            print("B owns bee:", [m["sockets"] for m in b if m["self"]] == [1])
            print("positions:", all(isinstance(m["position"], str) and "-" in m["position"] for m in a))
            PY
            $AIFS status $D/A | sed -n 2p | tr -s ' ' | cut -d' ' -f1-8
            echo "status rows: $(( $($AIFS status $D/A | grep -c ' ms ago') ))"
            echo "json cluster: $($AIFS status --json $D/A | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["cluster"]))')"
            B_ID=$(grep '"self":true' $D/B/cluster | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
            kill -9 $(pid_of B); killed=$(date +%s%N)
            elapsed() { echo $(( ($(date +%s%N) - killed) / 1000000 )); }
            # The acceptance's bound: B gone from A's list and bee owned by A within 10 s of the kill.
            until { ! grep -q "\\"$B_ID\\"" $D/A/cluster && grep -q '^owned: 1$' $D/A/ctl; } || [ $(elapsed) -ge 10000 ]; do sleep 0.1; done
            took=$(elapsed)
            echo "figure: B gone from A's /ai/cluster and bee taken over $took ms after kill -9" >&2
            echo "within 10 s: $(( took < 10000 ))"
            echo "listed on A: $(grep -c '"pid"' $D/A/cluster)"
            grep '^owned:' $D/A/ctl
            echo 'are you there' > $D/A/bee/input; timeout 10 cat $D/A/bee/output
            """)
        print("cluster health: " + r.stderr.split(separator: "\n").filter { $0.hasPrefix("figure:") }.joined(separator: " "))
        #expect(r.stdout.contains("fields: True\nsame daemons: True\npids: True\nself on A: True\none leader: True\nB owns bee: True\npositions: True\n"), "\(r)")
        #expect(r.stdout.contains("daemon host pid version heartbeat sockets position lag\n"), "aifs status shows the daemons: \(r)")
        #expect(r.stdout.contains("status rows: 2\njson cluster: 2\n"), "\(r)")
        #expect(r.stdout.contains("within 10 s: 1\nlisted on A: 1\nowned: 1\nare you there\n"), "\(r)")
    }

    /// A daemon stopped (`SIGSTOP`) longer than `member_timeout` is dropped, and the log is
    /// trimmed past it (`checkpoint_entries = 100`); resumed, it finds that out and refuses
    /// writes (EIO, the reason in `/ai/ctl`); mounted again, it starts from the checkpoint and
    /// has everything.
    @Test("a daemon silent longer than member_timeout is dropped; the log is trimmed past it; back, it refuses writes; remounted, it catches up from the checkpoint",
          .enabled(if: ClusterTests.redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func droppedDaemonCatchesUpFromTheCheckpoint() async {
        let r = await ClusterTests().cluster("""
            up A && up B || exit 1
            mkdir $D/A/s; synced B
            echo first > $D/A/s/input; timeout 120 cat $D/B/s/output
            pidB=$(pid_of B); kill -STOP $pidB
            until [ "$(grep -c '"pid"' $D/A/cluster)" = 1 ]; do sleep 0.1; done; echo "B dropped"
            n=0; until [ -n "$(redis-cli -p $REDIS_PORT get aifs:trimmed)" ]; do
                for i in 1 2 3 4 5 6 7 8 9 10; do n=$((n + 1)); echo "message $n" > $D/A/s/input; done
                # Read the replies, as a user would: without it a loaded machine fills the queue,
                # and a refused write (bash ignores its failed close) would still be counted.
                timeout 120 cat $D/A/s/output >/dev/null
            done
            cat $D/A/s/error > $D/errors-A  # (reading error consumes it)
            echo "refused on A: $(grep -c . $D/errors-A)"; head -3 $D/errors-A | sed 's/^/error on A: /' >&2
            echo "trimmed, checkpoint: $(redis-cli -p $REDIS_PORT hexists aifs:checkpoint data)"
            kill -CONT $pidB
            until grep -q 'trimmed past this daemon' $D/B/ctl; do sleep 0.1; done; echo "B knows"
            # close() gives the answer (bash ignores a failed close of a redirection).
            python3 -c 'import os,sys; fd=os.open(sys.argv[1], os.O_WRONLY); os.write(fd, b"late\\n"); os.close(fd)' \\
                $D/B/s/input 2>/dev/null; echo "write on B: rc=$?"
            grep -c 'trimmed past this daemon' $D/B/s/error | sed 's/^/reason in error: /'
            down B; up B || exit 1
            # Every message answered on A (2 lines each: the message and its echo), however long
            # a loaded machine takes: output is read (a reply waits for room in it) until the
            # transcript has them all; the deadline only bounds a failure.
            deadline=$((SECONDS + 300))
            until [ "$(grep -c '^message ' $D/A/s/transcript)" -ge $((2 * n)) ] || [ $SECONDS -ge $deadline ]; do
                timeout 30 cat $D/A/s/output >/dev/null
            done
            synced B
            cmp $D/A/s/transcript $D/B/s/transcript && echo same-transcript
            grep -c '^message ' $D/B/s/transcript | sed 's/^/replies and messages on B: /'; echo "sent: $n"
            echo after > $D/B/s/input; timeout 120 cat $D/B/s/output | tail -1
            until [ "$(grep -c '"pid"' $D/A/cluster)" = 2 ]; do sleep 0.1; done; echo "both listed"
            """, extraConfig: "member_timeout = 3\ncheckpoint_entries = 100")
        #expect(r.stdout.contains("first\nB dropped\nrefused on A: 0\ntrimmed, checkpoint: 1\nB knows\nwrite on B: rc=1\nreason in error: 1\nsame-transcript\n"), "\(r)")
        let sent = r.stdout.split(separator: "\n").first { $0.hasPrefix("sent: ") }.flatMap { Int($0.dropFirst(6)) } ?? -1
        #expect(sent > 0 && r.stdout.contains("replies and messages on B: \(2 * sent)\n"), "\(r)")
        #expect(r.stdout.contains("after\nboth listed\n"), "\(r)")
        print("dropped daemon: " + r.stderr.split(separator: "\n").filter { $0.hasPrefix("error on A:") }.joined(separator: " | "))
    }
}
