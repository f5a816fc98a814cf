import Foundation
import Testing

/// `aifs status`: the table and `--json`.
@Suite("Mounted: aifs status", .serialized)
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
                print(s["mountpoint"] == sys.argv[1], s["daemon"]["sockets"], s["daemon"]["providers"]["echo"])
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
}
