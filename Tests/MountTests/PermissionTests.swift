import Foundation
import Testing

/// Several users on one mount (`-o allow_other`): a second uid (nobody, through `setpriv`)
/// tries to read, write, reset and remove another user's sockets.
@Suite("Mounted: permissions with allow_other")
struct PermissionTests {
    static var isRoot: Bool { getuid() == 0 }

    @Test("a chmod 700 socket is closed to another user; a chmod 777 one can be used but not reset or removed; search, snapshots, broadcasts and wires respect it",
          .enabled(if: isRoot, "needs root to mount with allow_other and to switch to a second uid"))
    func secondUser() async {
        let r = await DurabilityTests().script("""
            $AIFS mount $M -o allow_other >/dev/null || exit 1
            umask 022  # (another test in this process may have a different umask for a moment)
            as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
            try() { if out=$(as_nobody bash -c "$1" 2>&1); then echo "$2: ok${out:+ $out}"; else echo "$2: ${out##*: }"; fi; }
            stat -c '/ai %a' $M
            mkdir $M/private $M/open; chmod 700 $M/private; chmod 777 $M/open
            echo 'secret-words inside' > $M/private/input; cat $M/private/output >/dev/null
            mkdir $M/snapshots/s1
            try "cat $M/private/output" "read 700"
            try "echo x > $M/private/input" "write 700"
            try "echo reset > $M/private/ctl" "reset 700"
            try "rmdir $M/private" "rmdir 700"
            try "cat $M/snapshots/s1/sockets/private/transcript" "snapshot 700"
            try "echo hi > $M/open/input && cat $M/open/output" "use 777"
            try "echo reset > $M/open/ctl" "reset 777"
            try "rmdir $M/open" "rmdir 777"
            try "chown 65534 $M/open" "chown 777"
            try "cat '$M/memory/search/secret-words' | wc -l" "search as nobody"
            echo "search as root: $(cat "$M/memory/search/secret-words" | wc -l)"
            try "umask 022; mkdir $M/mine && stat -c '%u %a' $M/mine" "mkdir"
            try "echo 'wire private' > $M/mine/ctl" "wire into 700"
            try "echo 'wire open' > $M/mine/ctl" "wire into 777"
            echo unwire > $M/mine/ctl
            try "python3 -c 'import os; fd=os.open(\\"$M/team-chat-all/input\\", os.O_WRONLY); os.write(fd, b\\"[team-chat-to-private] hi\\"); os.close(fd)'" "directed to 700"
            try "echo all > $M/team-chat-all/input && cat $M/team-chat-all/output | grep -c '^\\[team-chat-from-'" "broadcast"
            try "echo 'mode discuss' > $M/team-chat-all/ctl" "team ctl"
            grep -h 'may not\\|only the' $M/private/error $M/open/error | cut -d' ' -f2-
            chmod 750 $M/open; chown 65534:65534 $M/mine
            $AIFS unmount $M >/dev/null; $AIFS mount $M -o allow_other >/dev/null
            stat -c '%n %a %u:%g' $M/open $M/mine $M/open/input $M/open/output | sed "s|$M/||"
            """)
        #expect(r.stdout.contains("/ai 1777\n"), "\(r)")
        #expect(r.stdout.contains("read 700: Permission denied\nwrite 700: Permission denied\nreset 700: Permission denied\n"), "\(r)")
        #expect(r.stdout.contains("rmdir 700: Permission denied\n") || r.stdout.contains("rmdir 700: Operation not permitted\n"), "\(r)")
        #expect(r.stdout.contains("snapshot 700: Permission denied\n"), "\(r)")
        #expect(r.stdout.contains("use 777: ok hi\nreset 777: Operation not permitted\n"), "\(r)")
        #expect(r.stdout.contains("rmdir 777: Operation not permitted\n") || r.stdout.contains("rmdir 777: Permission denied\n"), "\(r)")
        #expect(r.stdout.contains("chown 777: Operation not permitted\n"), "\(r)")
        #expect(r.stdout.contains("search as nobody: ok 0\nsearch as root: 2\n"), "\(r)")
        #expect(r.stdout.contains("mkdir: ok 65534 755\n"), "\(r)")
        #expect(r.stdout.contains("wire into 700: Permission denied\nwire into 777: ok\n"), "\(r)")
        #expect(r.stdout.contains("directed to 700: [Errno 13] Permission denied\n"), "close() fails with EACCES: \(r)")
        #expect(r.stdout.contains("broadcast: ok 2\n"), "nobody's broadcast reaches open and mine only: \(r)")
        #expect(r.stdout.contains("team ctl: Permission denied\n"), "\(r)")
        #expect(r.stdout.contains("ctl reset: only the socket's owner or root may reset it\n"), "\(r)")
        #expect(r.stdout.contains("open 750 0:0\nmine 755 65534:65534\nopen/input 200 0:0\nopen/output 440 0:0\n"), "chmod and chown persist: \(r)")
    }
}
