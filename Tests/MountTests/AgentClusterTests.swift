import Foundation
import Testing

extension AgentMountTests {
    /// Bash for `before:`: a redis-server on a free port (`$RP`), shut down at exit.
    static let startRedis = """
        RP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        redis-server --port $RP --bind 127.0.0.1 --dir $DIR --save '' --appendonly no --daemonize yes \\
            --pidfile $DIR/redis.pid --logfile $DIR/redis.log
        CLEANUP="redis-cli -p $RP shutdown nosave >/dev/null 2>&1"
        until redis-cli -p $RP ping >/dev/null 2>&1; do sleep 0.05; done
        """
    /// The configuration's `[store]` on that Redis.
    static let redisStore = """
        [store]
        backend = "redis"
        url = "redis://127.0.0.1:$RP/0"
        """

    /// With the Redis backend only the socket's owner runs its agent. When another daemon gets
    /// the socket's lease (here: the lease key set to another daemon's id, as a takeover after
    /// this daemon was cut off from Redis would), this daemon's keeper finds it at its next
    /// renewal and stops the program; when the lease is free again it takes it back and starts
    /// the program, which answers.
    @Test("Redis: the lease of an agent socket taken by another daemon stops its program here; the lease back, it runs and answers again",
          .enabled(if: canRun && ClusterTests.redisAvailable, "needs root, /usr/bin/bwrap and redis-server"))
    func leaseLostStopsTheAgent() async {
        let r = await Self.script("""
            as_nobody mkdir $M/helper
            echo "first: $(ask first)"
            key=$(redis-cli -p $RP --scan --pattern 'aifs:owner:*')
            echo "leases: $(echo "$key" | grep -c .)"
            pid=$(awk '/^agent-pid:/ {print $2}' $M/helper/ctl)
            redis-cli -p $RP set "$key" another-daemon px 600000 >/dev/null
            # Every process of the sandbox's session gone: their pidfds, no polling.
            python3 $AIFS_TESTS/wait_exit.py --sid $pid 60 >&2
            echo "lease taken: $(ps -o stat= --sid $pid | grep -vc '^Z') $(grep '^agent:' $M/helper/ctl)"
            redis-cli -p $RP del "$key" >/dev/null
            # The keeper takes the free lease within a tick or two (the script's timeout bounds a failure).
            until grep -q '^agent-pid: [0-9]' $M/helper/ctl; do sleep 0.1; done
            echo "lease back: $(ask second)"
            echo "owner: $(redis-cli -p $RP get "$key" | grep -vc another-daemon)"
            """, extra: Self.redisStore, before: Self.startRedis)
        #expect(r.stdout == """
            first: agent got: first
            leases: 1
            lease taken: 0 agent: helper (not running)
            lease back: agent got: second
            owner: 1

            """, "\(r)")
    }

    /// The agent's network use is logged by the daemon that ran the request and applied by
    /// every daemon: a second daemon on the same Redis has the same `[network]` transcript
    /// entries (the same bytes, times included) and finds them by memory search.
    @Test("Redis, two daemons: an agent's network request and a refusal are in both daemons' transcripts alike, and found by search on the other",
          .enabled(if: canRun && ClusterTests.redisAvailable, "needs root, /usr/bin/bwrap and redis-server"))
    func networkNotesOnEveryDaemon() async {
        let r = await Self.script("""
            mkdir -p $DIR/B; $AIFS mount $DIR/B -o allow_other --config $DIR/config.toml --store $DIR/storeB/aifs.db >/dev/null || exit 1
            CLEANUP="$AIFS unmount $DIR/B >/dev/null 2>&1; umount -l $DIR/B 2>/dev/null; $CLEANUP"
            as_nobody mkdir $M/helper
            ask "net {\\"request_id\\": \\"a1\\", \\"url\\": \\"http://127.0.0.1:$HPORT/seen-everywhere\\"}" >/dev/null
            ask "raw {\\"request_id\\": 2, \\"url\\": \\"http://localhost:$HPORT/host\\"}" >/dev/null
            # B has applied everything logged before now once a team ctl write returns.
            echo 'timeout 300' > $DIR/B/team-chat-all/ctl
            echo "on A: $(grep -c '^\\[network\\]' $M/helper/transcript)"
            cmp $M/helper/transcript $DIR/B/helper/transcript && echo "same transcript"
            cut -f5 "$DIR/B/memory/search/\\"seen everywhere\\"" | sort -u
            """, extra: Self.redisStore, before: Self.startRedis)
        #expect(r.stdout.contains("on A: 2\nsame transcript\n"), "\(r)")
        #expect(r.stdout.contains("/seen-everywhere -> 200"), "\(r)")
    }
}
