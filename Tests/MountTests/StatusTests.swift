import Foundation
import Testing

/// `aifs status` (the table and `--json`) and the progress line `aifs mount` shows on a terminal.
@Suite("Mounted: aifs status and mount progress", .serialized)
struct StatusTests {
    @Test("status: a summary line and one compact row per socket; --json holds every ctl key")
    func statusTableAndJSON() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/alpha $M/beta
                echo 'model echo/slow' > $M/beta/ctl; echo 'state inactive' > $M/beta/ctl
                echo 'one two three' > $M/alpha/input; cat $M/alpha/output >/dev/null
                $AIFS status $M | sed -E 's/pid [0-9]+, up [0-9]+s/pid P, up U/'
                $AIFS status --json $M | python3 -c '
                import json, sys
                s = json.load(sys.stdin)
                print(s["mountpoint"] == sys.argv[1], s["daemon"]["sockets"], s["daemon"]["provider"]["echo"])
                for x in s["sockets"]:
                    print(x["name"], x["model"], x["state"], x["queued"], x["tokens-in"], x["tokens-out"], x["wire"], x["owner"])
                ' $M
                """)
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout.contains("""
                aifs 0.1.0 at \(m.mountpoint): pid P, up U, 2 sockets, 0 in flight, store \(m.storePath)
                socket  model      state     queued  in-flight  tokens
                alpha   echo       active    0       0          3/3
                beta    echo/slow  inactive  0       0          0/0

                """), "\(r)")
            #expect(r.stdout.contains("True 2 ok\nalpha echo active 0 3 3 None 0:0\nbeta echo/slow inactive 0 0 0 None 0:0\n"), "\(r)")
        }
    }

    @Test("status of a directory where aifs is not mounted fails with a reason")
    func statusNotMounted() async {
        let r = await Shell.run("d=$(mktemp -d); $AIFS status $d; echo rc=$?; rmdir $d")
        #expect(r.stdout == "rc=1\n", "\(r)")
        #expect(r.stderr.contains("aifs is not mounted at /tmp/"), "\(r)")
    }

    /// A second daemon on a store in use waits 5 s for its lock, then gives up: a slow mount.
    @Test("mount shows 'waiting … (N s)' on a terminal after a second, and nothing when stderr is not one")
    func progressOnlyOnATerminal() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M.2
                script -qec "$AIFS mount $M.2 --store \(m.storePath)" /dev/null > $M.tty; echo "tty rc=$?"
                $AIFS mount $M.2 --store \(m.storePath) 2> $M.err; echo "pipe rc=$?"
                grep -c 'waiting for the mount at' $M.tty
                grep -o 'answer ([0-9] s)' $M.tty | head -2
                grep -c 'waiting' $M.err
                grep -c 'in use by another aifs daemon' $M.err
                rm -f $M.tty $M.err "/run/aifs/$(echo $M.2 | sed 's|/|%2F|g').log"; rmdir $M.2
                """, timeout: 60)
            #expect(r.stdout.hasPrefix("tty rc=1\npipe rc=1\n1\nanswer (1 s)\nanswer (2 s)\n0\n"), "\(r)")
            #expect(r.stdout.hasSuffix("\n0\n1\n") || r.stdout.hasSuffix("\n0\n2\n"), "the reason is still reported: \(r)")
        }
    }
}
