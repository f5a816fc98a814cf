import Foundation
import Testing

extension LoadTests {
    /// Messages the bounded-log test sends: `CLUSTER_LOAD_MESSAGES`, 50,000 by default (about
    /// two minutes in CI). The acceptance figure of issue 21 is 200,000 (seven minutes on the
    /// 2-core machine): `CLUSTER_LOAD_MESSAGES=200000 swift test --filter LoadTests/boundedRedisLog`.
    static var clusterMessages: Int {
        ProcessInfo.processInfo.environment["CLUSTER_LOAD_MESSAGES"].flatMap(Int.init) ?? 50_000
    }

    /// Issue 21, point 4, in the second test pass (`--filter 'FuzzTests|LoadTests'`, one test of
    /// this serialized suite at a time): N messages through a Redis namespace of two daemons
    /// (echo model, 20 sockets, 4 writer processes). Checked: the log is trimmed to at most
    /// `checkpoint_entries` once the load ends, and Redis's `used_memory` grew by less than the
    /// entries added would take untrimmed (bytes per entry measured on the log itself); then a
    /// third daemon joins, loads the checkpoint and the tail, and has every socket, prompt and
    /// transcript, and finds the first message by memory search. The acceptance's bound: Redis's
    /// `used_memory` at the end (the load over, the log quiet: the leader has checkpointed and
    /// trimmed) is within 2x of its value after the first tenth of the messages (N/10; 20,000
    /// of 200,000); both are printed, with the value right after the last write. The checkpoint
    /// holds every transcript and memory, so it grows with them, at about 30 bytes a message
    /// (docs/distributed.md, "Checkpoints and trimming").
    @Test("N messages through a Redis namespace: the log stays trimmed, Redis memory at the end within 2x of after N/10; a third daemon joining afterwards has every socket, prompt and transcript, and finds the first message",
          .enabled(if: ClusterTests.redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func boundedRedisLog() async {
        let total = Self.clusterMessages, first = total / 10
        let r = await ClusterTests().cluster("""
            up A && up B || exit 1
            for i in $(seq 0 19); do n=$(printf s%03d $i); if [ $((i % 2)) = 0 ]; then mkdir $D/A/$n; else mkdir $D/B/$n; fi; done
            echo 'You are socket three.' > $D/B/s003/prompt
            synced A; synced B
            mem() { redis-cli -p $REDIS_PORT info memory | sed -n 's/^used_memory:\\([0-9]*\\).*/\\1/p'; }
            added() { redis-cli -p $REDIS_PORT xinfo stream aifs:log | sed -n '/^entries-added$/{n;p}'; }
            started=$(date +%s)
            python3 '\(ClusterTests.directory)/cluster_load_driver.py' $D/A 0 \(first) 20 4 || exit 1
            early=$(mem); added_early=$(added)
            python3 '\(ClusterTests.directory)/cluster_load_driver.py' $D/A \(first) \(total - first) 20 4 || exit 1
            late=$(mem)
            # Bytes an entry takes, measured on the log while it is long (before the last trim).
            late_entries=$(redis-cli -p $REDIS_PORT xlen aifs:log)
            per_entry=$(( $(redis-cli -p $REDIS_PORT memory usage aifs:log samples 0) / (late_entries > 0 ? late_entries : 1) ))
            xlen() { redis-cli -p $REDIS_PORT xlen aifs:log; }
            echo "figure: used_memory after \(first) messages: $early bytes; after \(total): $late bytes" \
                "($(( late * 100 / early ))/100 of it; log: $(xlen) entries, checkpoint:" \
                "$(redis-cli -p $REDIS_PORT hget aifs:checkpoint bytes) bytes) after $(( $(date +%s) - started )) s" >&2
            # Once the writers stop and the log is quiet, the leader checkpoints what is past the
            # last checkpoint and trims the log to what came after it: nearly nothing.
            until [ "$(xlen)" -le 5000 ]; do sleep 0.5; done
            settled=$(mem); entries=$(xlen); added=$(added)
            echo "figure: settled: used_memory $settled bytes, log $entries entries of $added added (untrimmed:" \
                "about $(( added * per_entry )) bytes at $per_entry bytes an entry)" >&2
            echo "figure: used_memory at the end: $settled bytes, $(( settled * 100 / early ))/100 of the $early after \(first) messages" >&2
            echo "log trimmed: 1"
            echo "grew slower than the log: $(( settled - early < (added - added_early) * per_entry ))"
            echo "within 2x of the first tenth: $(( settled <= 2 * early ))"
            # Every reply is in: reading each output to its end waits for what is pending.
            for i in $(seq 0 19); do timeout 300 cat $D/A/$(printf s%03d $i)/output >/dev/null; done
            synced B
            up C || exit 1
            synced C
            echo "sockets on C: $(ls $D/C | grep -c '^s[0-9]')"
            same=0; for i in $(seq 0 19); do n=$(printf s%03d $i)
                cmp -s $D/A/$n/transcript $D/C/$n/transcript && cmp -s $D/A/$n/prompt $D/C/$n/prompt && same=$((same + 1)); done
            echo "same transcripts and prompts: $same"
            echo "prompt: $(cat $D/C/s003/prompt)"
            echo "replies on C: $(cat $D/C/s*/transcript | grep -c '^message number')"
            cut -f3,4,5 "$D/C/memory/search/\\"message number 0 to s000\\"" | sort -u
            grep '^checkpoint' $D/C/ctl $D/A/ctl $D/B/ctl | sed "s|$D/||" >&2
            """, extraConfig: "checkpoint_entries = 50000", timeout: 1800)
        print("bounded redis log: " + r.stderr.split(separator: "\n").filter { $0.hasPrefix("figure:") || $0.contains("checkpoint:") }
            .joined(separator: " | "))
        #expect(r.stdout.contains("log trimmed: 1\ngrew slower than the log: 1\nwithin 2x of the first tenth: 1\n"), "\(r)")
        #expect(r.stdout.contains("sockets on C: 20\nsame transcripts and prompts: 20\nprompt: You are socket three.\n"), "\(r)")
        // Each message is in its transcript twice (the input, then the echo reply).
        #expect(r.stdout.contains("replies on C: \(2 * total)\n"), "\(r)")
        #expect(r.stdout.contains("s000\tinput\tmessage number 0 to s000\ns000\treply\tmessage number 0 to s000\n"), "\(r)")
    }
}
