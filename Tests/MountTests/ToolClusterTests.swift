import Foundation
import Testing

/// Tools on a Redis namespace: every step of the agent loop is a change in the shared log, so
/// every daemon shows the same `pending/` and transcript, and a call approved on one daemon is
/// run by the socket's owner on another.
@Suite("Mounted: tools across daemons")
struct ToolClusterTests {
    @Test("Redis, two daemons: a call of A's socket waits in pending/ on B too; approve on B, A runs it; both transcripts agree",
          .enabled(if: ClusterTests.redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func approveOnAnotherDaemon() async {
        let r = await ClusterTests().cluster("""
            \(ClusterTests.fakeProvider(["m"]))
            up A && up B || exit 1
            mkdir $D/A/s; printf 'model fo/m\\ntools bash\\nsecurity safe\\n' > $D/A/s/ctl
            synced B
            grep '^owned:' $D/A/ctl $D/B/ctl | sed "s|$D/||"
            echo 'please-call bash {"command": "echo ran-on-$(hostname)-as-$(id -u)"}' > $D/B/s/input
            until [ -e $D/B/s/pending/1.1 ]; do sleep 0.01; done  # once B has applied the pending call
            grep -E '^(tool|state):' $D/B/s/pending/1.1
            $AIFS pending -m $D/A | cut -f1,2
            echo 'approve 1.1' > $D/B/s/ctl
            timeout 30 cat $D/B/s/output | sed "s/$(hostname)/HOST/"; echo "rc=$?"
            synced A; synced B
            ls $D/A/s/pending $D/B/s/pending | grep -c '^1\\.1$'
            cmp $D/A/s/transcript $D/B/s/transcript && echo same-transcript
            grep -c '^\\[tool-\\(call\\|result\\) 1\\.1 ' $D/A/s/transcript
            """)
        #expect(r.stdout == """
            A/ctl:owned: 1
            B/ctl:owned: 0
            tool: bash
            state: waiting
            s/1.1\tbash
            answer: ran-on-HOST-as-0
            rc=0
            0
            same-transcript
            2

            """, "\(r)")
    }
}
