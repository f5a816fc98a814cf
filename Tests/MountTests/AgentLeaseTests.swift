import Foundation
import Testing

extension AgentMountTests {
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
            """, extra: """
            [store]
            backend = "redis"
            url = "redis://127.0.0.1:$RP/0"
            """, before: """
            RP=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
            redis-server --port $RP --bind 127.0.0.1 --dir $DIR --save '' --appendonly no --daemonize yes \\
                --pidfile $DIR/redis.pid --logfile $DIR/redis.log
            CLEANUP="redis-cli -p $RP shutdown nosave >/dev/null 2>&1"
            until redis-cli -p $RP ping >/dev/null 2>&1; do sleep 0.05; done
            """)
        #expect(r.stdout == """
            first: agent got: first
            leases: 1
            lease taken: 0 agent: helper (not running)
            lease back: agent got: second
            owner: 1

            """, "\(r)")
    }
}
