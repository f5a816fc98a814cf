import Foundation
import Testing

@Suite("Mounted: mount, unmount and crashes", .serialized)
struct LifecycleTests {
    @Test("SIGTERM unmounts cleanly and a parked reader gets an error, not a hang")
    func sigtermAnswersParkedReaders() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/s; echo 'model echo/slow' > $M/s/ctl; echo "$(seq 1 100 | tr '\\n' ' ')" > $M/s/input
                (timeout 20 cat $M/s/output >/dev/null; echo "reader-rc=$?" > $M.reader) &
                python3 $AIFS_TESTS/wait_readers.py $M 1 --parked >/dev/null; kill -TERM \(m.pid)
                for i in $(seq 1 100); do [ -f $M.reader ] && break; sleep 0.1; done
                cat $M.reader; rm -f $M.reader
                for i in $(seq 1 50); do grep -q " $M " /proc/mounts || break; sleep 0.1; done
                grep -c " $M " /proc/mounts; ls $M >/dev/null && echo "dir-ok"
                """)
            #expect(r.stdout.contains("reader-rc=1"), "\(r)")
            #expect(r.stdout.contains("\n0\ndir-ok"), "no mount left, no stale endpoint: \(r)")
        }
    }

    @Test("aifs mount / unmount, and kill -9 then aifs mount on the same directory")
    func backgroundMountUnmountAndCrash() async throws {
        let dir = MountedAIFS.makeTempDirectory("aifs-cli")
        let r = await Shell.run("""
            M=\(dir)
            $AIFS mount $M || exit 1
            mkdir $M/a && echo one > $M/a/input && cat $M/a/output
            $AIFS status $M | grep -E '^(aifs [0-9]|a )'
            $AIFS unmount $M && echo unmounted
            grep -c " $M " /proc/mounts
            $AIFS mount $M >/dev/null || exit 2
            pid=$(grep '^pid:' $M/ctl | cut -d' ' -f2); kill -9 $pid
            python3 $AIFS_TESTS/wait_exit.py $pid 30 >/dev/null  # gone (or a zombie): its pidfd, no polling
            ls $M 2>&1 | head -1
            $AIFS mount $M 2>&1 || exit 3
            mkdir $M/b && echo two > $M/b/input && cat $M/b/output
            $AIFS unmount $M >/dev/null && echo unmounted-again
            rmdir $M
            """, timeout: 120)
        _ = await Shell.run("grep -q ' \(dir) ' /proc/mounts && umount -l '\(dir)'; rmdir '\(dir)' 2>/dev/null")
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("one\n"), "\(r)")
        #expect(r.stdout.contains(", 1 socket, 0 in flight, "), "\(r)")
        #expect(r.stdout.contains("unmounted\n0\n"), "\(r)")
        #expect(r.stdout.contains("Transport endpoint is not connected"), "the kill -9 leaves a stale mount: \(r)")
        #expect(r.stdout.contains("clearing stale mount"), "\(r)")
        #expect(r.stdout.contains("two\nunmounted-again"), "\(r)")
    }
}
