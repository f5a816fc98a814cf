import Foundation
import Testing

@Suite("Mounted: the tree", .serialized)
struct TreeTests {
    @Test("rm -r, rmdir, mv work; reserved and bad names, duplicates give their errnos; ls is never stale")
    func directoryOperations() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                mkdir $M/apollo $M/a $M/b && echo ok-mkdir
                echo hi > $M/a/input; cat $M/a/output >/dev/null
                mv $M/a $M/c && echo ok-mv; grep -c team-chat-to-a $M/c/transcript; grep '^name:' $M/c/ctl
                rm -r $M/apollo && echo ok-rm; rmdir $M/b && echo ok-rmdir
                rmdir $M/team-chat-all 2>&1; rm -r $M/memory 2>&1 | head -1; rmdir $M/snapshots 2>&1
                mkdir "$M/bad name" 2>&1; mkdir $M/.hidden 2>&1; mkdir $M/$(printf 'x%.0s' $(seq 1 65)) 2>&1; mkdir $M/ctl 2>&1
                mkdir $M/c 2>&1; python3 -c 'import os,sys; os.rename(sys.argv[1], sys.argv[2])' $M/c $M/team-chat-all 2>&1 | tail -1
                ls $M | tr '\\n' ' '; echo
                echo 'create fromctl' > $M/ctl && ls $M | grep -c fromctl
                ls $M/c | tr '\\n' ' '; echo
                echo x > $M/c/newfile 2>&1; ln -s x $M/c/link 2>&1; mknod $M/c/fifo p 2>&1
                """)
            let out = r.stdout
            for marker in ["ok-mkdir", "ok-mv", "ok-rm", "ok-rmdir"] { #expect(out.contains(marker), "\(marker): \(r)") }
            #expect(out.contains("name: c"), "\(r)")
            #expect(out.contains("rmdir: failed to remove '\(m.mountpoint)/team-chat-all': Operation not permitted"), "\(r)")
            #expect(out.contains("rmdir: failed to remove '\(m.mountpoint)/snapshots': Operation not permitted"), "\(r)")
            #expect(out.components(separatedBy: "Invalid argument").count - 1 == 4, "3 bad names + mv onto reserved: \(r)")
            #expect(out.contains("cannot create directory '\(m.mountpoint)/ctl': File exists"), "\(r)")
            #expect(out.contains("cannot create directory '\(m.mountpoint)/c': File exists"), "\(r)")
            #expect(out.contains("c cluster ctl directory events memory metrics models snapshots team-chat-all tools \n"), "\(r)")
            #expect(out.contains("\n1\n"), "a socket made through /ai/ctl is listed: \(r)")
            #expect(out.contains("\nchat context ctl error input output pending prompt transcript \n"), "\(r)")
            #expect(out.components(separatedBy: "Operation not permitted").count - 1 >= 5, "\(r)")
        }
    }

    @Test("reading input and writing output are refused; unlink inside a socket is a no-op; no extended attributes")
    func wrongDirections() async throws {
        try await MountedAIFS.with { m in
            let r = await Shell.python("""
                import os, sys, errno
                M = sys.argv[1]
                os.mkdir(f"{M}/w")
                def code(f):
                    try:
                        f(); return "ok"
                    except OSError as e:
                        return errno.errorcode[e.errno]
                print("read-input", code(lambda: os.open(f"{M}/w/input", os.O_RDONLY)))
                print("write-output", code(lambda: os.open(f"{M}/w/output", os.O_WRONLY)))
                print("write-transcript", code(lambda: os.open(f"{M}/w/transcript", os.O_WRONLY)))
                print("truncate-transcript", code(lambda: os.truncate(f"{M}/w/transcript", 0)))
                print("unlink-input", code(lambda: os.unlink(f"{M}/w/input")))
                print("input-still-there", os.path.exists(f"{M}/w/input"))
                print("seek-output", code(lambda: os.lseek(os.open(f"{M}/w/output", os.O_RDONLY), 10, 0)))
                print("lookup-missing", code(lambda: os.stat(f"{M}/nope")))
                print("listxattr", os.listxattr(f"{M}/w/ctl"), os.listxattr(M))
                print("getxattr", code(lambda: os.getxattr(f"{M}/w/ctl", "user.x")), code(lambda: os.getxattr(M, "user.x")))
                def big():
                    fd = os.open(f"{M}/w/input", os.O_WRONLY)
                    try:
                        for _ in range(20): os.write(fd, b"x" * 65536)
                    finally:
                        os.close(fd)
                print("big", code(big))
                print("big-queued-nothing", os.read(os.open(f"{M}/w/output", os.O_RDONLY | os.O_NONBLOCK), 10) == b"")
                print("big-reason", "EFBIG" in open(f"{M}/w/error").read())
                """, mountpoint: m.mountpoint)
            for line in ["read-input EACCES", "write-output EACCES", "write-transcript EACCES", "truncate-transcript EPERM",
                         "unlink-input ok", "input-still-there True", "seek-output ESPIPE", "lookup-missing ENOENT", "listxattr [] []",
                         "getxattr ENOTSUP ENOTSUP", "big EFBIG",
                         "big-queued-nothing True", "big-reason True"] {
                #expect(r.stdout.contains(line), "\(line): \(r)")
            }
        }
    }

    @Test("1,000 blocked readers hold no thread each; stat and mkdir answer meanwhile; a signal ends them all")
    func thousandParkedReaders() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                set -m  # background jobs in their own groups, so signals reach them as a user's would
                # 2,000 words: a reply streams for 400 s, longer than this test may run, so every
                # socket is still in flight however long a loaded machine takes to set them up.
                msg="$(seq 1 2000 | tr '\\n' ' ')"
                for i in $(seq 1 1000); do mkdir $M/s$i; echo 'model echo/slow' > $M/s$i/ctl; echo "$msg" > $M/s$i/input; done
                pids=()
                for i in $(seq 1 1000); do cat $M/s$i/output > /dev/null 2>&1 & pids+=($!); done
                echo "figure: sockets ready after $SECONDS s" >&2
                python3 $AIFS_TESTS/wait_readers.py $M 1000 | head -20  # every cat has its output open (an event, not a sleep)
                echo "figure: readers open after $SECONDS s" >&2
                echo "threads=$(ls /proc/\(m.pid)/task | wc -l)"
                grep '^in-flight:' $M/ctl
                s=$(date +%s%N); stat $M >/dev/null && mkdir $M/x; e=$(date +%s%N); echo "stat-mkdir-ms=$(( (e-s)/1000000 ))"
                kill -INT "${pids[@]}"
                deadline=$(( $(date +%s) + 10 ))
                for p in "${pids[@]}"; do while kill -0 $p 2>/dev/null && [ $(date +%s) -lt $deadline ]; do sleep 0.05; done; done
                left=0; for p in "${pids[@]}"; do kill -0 $p 2>/dev/null && left=$((left+1)); done
                echo "left=$left"
                echo "dstate=$(ps -eo stat,args | grep -c '^D.*cat \(m.mountpoint)')"
                """, timeout: 240)
            #expect(r.stdout.contains("in-flight: 1000"), "\(r)")
            let threads = Int(r.stdout.firstMatch(of: /threads=(\d+)/)?.1 ?? "999") ?? 999
            #expect(threads < 30, "a thread per reader? \(r)")
            let ms = Int(r.stdout.firstMatch(of: /stat-mkdir-ms=(\d+)/)?.1 ?? "99999") ?? 99_999
            #expect(ms < 3_000, "stat/mkdir must answer while 1000 readers are parked: \(r)")
            #expect(r.stdout.contains("left=0"), "\(r)")
            #expect(r.stdout.contains("dstate=0"), "\(r)")
        }
    }
}
