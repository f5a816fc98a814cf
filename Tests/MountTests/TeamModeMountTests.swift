import Foundation
import Testing

/// `team-chat-all` in `mode race` and `mode fallback A,B,C` through a real mount, against
/// `fake_model_server.py`: its `wait-MS` models answer after MS milliseconds (or end when the
/// client disconnects), `refuse` answers HTTP 400, and `GET /stats` says what became of every
/// request, so a test waits for the server to have no request open instead of sleeping.
@Suite("Mounted: team chat race and fallback")
struct TeamModeMountTests {
    static let config = """
        [providers.fo]
        kind = "openai"
        base_url = "http://127.0.0.1:$PORT/v1"
        models = ["m", "refuse", "wait-50", "wait-300000", "wait-600000"]
        """

    /// Bash that mounts and makes sockets a, b and c using the fake server's models given.
    static func members(_ a: String, _ b: String, _ c: String) -> String {
        """
        $AIFS mount $M --config $C >/dev/null || exit 1
        mkdir $M/a $M/b $M/c
        echo 'model fo/\(a)' > $M/a/ctl; echo 'model fo/\(b)' > $M/b/ctl; echo 'model fo/\(c)' > $M/c/ctl
        """
    }

    /// Bash that waits until the fake server has no request open (`GET /stats?idle` answers
    /// then; the script's timeout bounds a failure), then prints `open: N` and one `MODEL STATE` line per request, sorted.
    static let serverSettled = """
        python3 - $PORT <<'PY'
        import json, sys, urllib.request
        stats = json.load(urllib.request.urlopen("http://127.0.0.1:%s/stats?idle" % sys.argv[1]))
        print("open:", stats["open"])
        for line in sorted(r["model"] + " " + r["state"] for r in stats["requests"]):
            print(line)
        PY
        """

    /// Whether the answer waited for nobody is shown by events, not a stopwatch: neither slow
    /// request completed; each was disconnected at the server, or cancelled before it was sent.
    /// The losers here take 300 s and 600 s, so no machine is slow enough for one to finish
    /// first (CI once saw a 500 ms loser complete on a loaded machine). The acceptance's 50 ms,
    /// 500 ms and 5 s members and its 0.4 s goal are a row of `./mount --bench` (`case_team.py`):
    /// timing goals are measured there, not asserted here.
    @Test("race of 50 ms, 300 s and 600 s: the 50 ms answer, without waiting for the others (each slow request disconnected at the server, or cancelled before it was sent)")
    func race() async {
        let r = await ProviderMountTests().script(config: Self.config, """
            \(Self.members("wait-50", "wait-300000", "wait-600000"))
            echo 'mode race' > $M/team-chat-all/ctl
            grep '^mode:' $M/team-chat-all/ctl
            start=$(date +%s%N)
            echo 'who is first' > $M/team-chat-all/input
            timeout 120 cat $M/team-chat-all/output > $D/out; echo "rc=$?"
            ms=$(( ($(date +%s%N) - start) / 1000000 ))
            echo "figure: the race round took $ms ms (the goal, under 400 ms, is a benchmark row)" >&2
            cat $D/out
            \(Self.serverSettled)
            for s in b c; do echo "$s: $(grep -c 'cancelled: lost the race to a' $M/$s/error) $(grep -c '^\\[cancelled\\] ' $M/$s/transcript)"; done
            echo "a: $(grep -c '^\\[team-chat-from-a\\] ' $M/a/transcript)"
            """)
        print(r.stderr.split(separator: "\n").filter { $0.hasPrefix("figure:") }.joined(separator: "\n"))
        // A loser's request may be cancelled before it reaches the server (CI saw this once,
        // on a loaded machine, for a 5 s loser): then the server has no line for it. Either way
        // it must not have completed; a line it does have must say it was disconnected.
        let lines = r.stdout.split(separator: "\n", omittingEmptySubsequences: false)
        let losers = lines.filter { $0.hasPrefix("wait-300000 ") || $0.hasPrefix("wait-600000 ") }
        #expect(losers.allSatisfy { $0.hasSuffix(" disconnected") }, "\(r)")
        let rest = lines.filter { !losers.contains($0) }.joined(separator: "\n")
        #expect(rest == """
            mode: race
            rc=0
            [team-chat-from-a]
            reply: who is first
            [team-chat-from-b] [cancelled] lost the race to a
            [team-chat-from-c] [cancelled] lost the race to a
            open: 0
            wait-50 completed
            b: 1 1
            c: 1 1
            a: 1

            """, "\(r)")
    }

    /// The timeout is 20 s, not 1 s: a member's timeout counts from its request, and on a
    /// loaded CI machine the refusing member's HTTP 400 once came back after more than 1 s, so
    /// it was reported as timed out. 20 s is far past any local reply and costs one wait.
    @Test("fallback a,b,c: a is refused (HTTP 400), b times out after 20 s and is disconnected at the server, c answers; in that order")
    func fallback() async {
        let r = await ProviderMountTests().script(config: Self.config, """
            \(Self.members("refuse", "wait-600000", "m"))
            printf 'mode fallback a,b,c\\ntimeout 20\\n' > $M/team-chat-all/ctl
            grep -E '^(mode|timeout|members):' $M/team-chat-all/ctl
            echo 'plan b' > $M/team-chat-all/input || echo "close failed"
            timeout 120 cat $M/team-chat-all/output; echo "rc=$?"
            \(Self.serverSettled)
            echo "b: $(grep -c 'cancelled: team chat round timed out after 20 s' $M/b/error)"
            for s in a b c; do echo "$s: $(grep -c "^\\[team-chat-to-$s\\] .* round=" $M/$s/transcript)"; done
            """)
        #expect(r.stdout == """
            mode: fallback a,b,c
            timeout: 20
            members: a b c
            [team-chat-from-a] [error] fo: HTTP 400: refused on purpose
            [team-chat-from-b] [error] timed out after 20 s
            [team-chat-from-c]
            reply: plan b
            rc=0
            open: 0
            m completed
            refuse refused
            wait-600000 disconnected
            b: 1
            a: 1
            b: 1
            c: 1

            """, "\(r)")
    }

    @Test("Redis, two daemons: a race from B whose loser is owned by A; A aborts the loser's request (disconnected at the server)",
          .enabled(if: ClusterTests.redisAvailable, "redis-server is not installed (apt-get install redis-server)"))
    func raceAcrossDaemons() async {
        let r = await ClusterTests().cluster("""
            \(ClusterTests.fakeProvider(["after-wait-600000", "wait-600000"]))
            up A && up B || exit 1
            mkdir $D/A/slow; echo 'model fo/wait-600000' > $D/A/slow/ctl
            # fast answers once slow's request is open at the server: A has sent it, whatever the speed.
            mkdir $D/B/fast; echo 'model fo/after-wait-600000' > $D/B/fast/ctl
            synced A; synced B
            grep '^owned:' $D/A/ctl $D/B/ctl | sed "s|$D/||"
            echo 'mode race' > $D/B/team-chat-all/ctl
            echo 'who is first' > $D/B/team-chat-all/input
            timeout 120 cat $D/B/team-chat-all/output; echo "rc=$?"
            \(Self.serverSettled)
            # Every daemon applies the cancellation; A has once it has applied what came after.
            synced A; grep -q 'cancelled: lost the race to fast' $D/A/slow/error && echo "A: cancelled"
            """)
        #expect(r.stdout == """
            A/ctl:owned: 1
            B/ctl:owned: 1
            [team-chat-from-fast]
            reply: who is first
            [team-chat-from-slow] [cancelled] lost the race to fast
            rc=0
            open: 0
            after-wait-600000 completed
            wait-600000 disconnected
            A: cancelled

            """, "\(r)")
    }

    @Test("mode fallback and mode race are kept in the store: a remount shows them in ctl")
    func settingsSurviveARemount() async {
        let r = await DurabilityTests().script("""
            S=$M.store/aifs.db; trap '$AIFS unmount $M >/dev/null 2>&1; umount -l $M 2>/dev/null; rmdir $M 2>/dev/null; rm -rf $M.store' EXIT
            $AIFS mount $M --store $S >/dev/null || exit 1
            printf 'mode fallback b,a\\ntimeout 7\\n' > $M/team-chat-all/ctl
            $AIFS unmount $M >/dev/null; $AIFS mount $M --store $S >/dev/null || exit 1
            grep -E '^(mode|timeout):' $M/team-chat-all/ctl
            echo 'mode race' > $M/team-chat-all/ctl
            $AIFS unmount $M >/dev/null; $AIFS mount $M --store $S >/dev/null || exit 1
            grep '^mode:' $M/team-chat-all/ctl
            """)
        #expect(r.stdout == "mode: fallback b,a\ntimeout: 7\nmode: race\n", "\(r)")
    }
}
