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

    /// The kernel serves `/proc/self/mountinfo` a page at a time; a reader that stops after one
    /// read misses every mount past the first 4 KiB, and `aifs mount` then waits 30 s for a mount
    /// that is there. 60 tmpfs mounts with long names push the aifs mount far past that page.
    @Test("mount, status and unmount find a mount listed past the first 4 KiB of the mount table")
    func longMountTable() async {
        let r = await Shell.run("""
            d=$(mktemp -d /tmp/aifs-long-XXXXXX)
            cleanup() { for m in $(grep " $d/" /proc/mounts | cut -d' ' -f2); do umount -l $m; done; rm -rf $d; }
            trap cleanup EXIT
            for i in $(seq 1 60); do p=$d/a-long-name-that-fills-the-mount-table-$i; mkdir $p; mount -t tmpfs -o size=64k t $p; done
            echo "table over 4 KiB: $([ $(cat /proc/self/mountinfo | wc -c) -gt 4096 ] && echo yes)"
            timeout 20 $AIFS mount $d/mnt --store memory > /dev/null; echo "mount rc=$?"
            $AIFS status $d/mnt | head -1 | sed -E 's/pid [0-9]+, up [0-9]+s/pid P, up U/' | sed "s|$d|D|"
            $AIFS unmount $d/mnt > /dev/null; echo "unmount rc=$?"
            grep -c " $d/mnt " /proc/mounts
            """, timeout: 60)
        #expect(r.stdout == """
            table over 4 KiB: yes
            mount rc=0
            aifs 0.1.0 at D/mnt: pid P, up U, 0 sockets, 0 in flight, store memory (not persisted)
            unmount rc=0
            0

            """, "\(r)")
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
