@testable import aifs
import Testing

/// How the mount helper calling conventions (`mount.fuse.aifs …`, `aifs SOURCE DIR -o …`) become
/// `aifs mount …`, and which command lines are left alone. No mount needed.
@Suite("Mount helper arguments")
struct MountHelperTests {
    @Test("mount(8) runs /sbin/mount.fuse.aifs SOURCE DIR -o OPTS: mount-only options dropped, config= and store= become flags")
    func helperName() throws {
        #expect(try MountHelper.translate(["/sbin/mount.fuse.aifs", "none", "/ai", "-o", "rw,defaults,noauto,nofail,_netdev,x-systemd.automount,comment=x,store=/var/lib/aifs/aifs.db,config=/etc/aifs/c.toml,allow_other"])
                == ["mount", "/ai", "--store", "/var/lib/aifs/aifs.db", "--config", "/etc/aifs/c.toml", "-o", "rw,allow_other"])
        #expect(try MountHelper.translate(["mount.fuse.aifs", "aifs", "/ai", "-n", "-v", "-t", "fuse.aifs"]) == ["mount", "/ai"])
        #expect(try MountHelper.translate(["mount.fuse.aifs", "none", "/ai", "-onosuid,nodev"]) == ["mount", "/ai", "-o", "nosuid,nodev"])
    }

    @Test("fuse3's mount.fuse runs 'aifs SOURCE DIR -o OPTS'")
    func typeProgram() throws {
        #expect(try MountHelper.translate(["/usr/local/bin/aifs", "none", "/mnt/x", "-o", "rw,dev,suid"]) == ["mount", "/mnt/x", "-o", "rw,dev,suid"])
    }

    @Test("ordinary command lines, and a mistyped subcommand, are not helper calls")
    func leftAlone() throws {
        #expect(try MountHelper.translate(["aifs", "mount", "/ai", "-o", "allow_other"]) == nil)
        #expect(try MountHelper.translate(["aifs", "status", "/ai"]) == nil)
        #expect(try MountHelper.translate(["aifs", "unmount", "/ai", "-o", "x"]) == nil, "a subcommand stays a subcommand")
        #expect(MountHelper.subcommands.isSuperset(of: ["mount", "unmount", "status", "doctor", "help"]), "taken from AIFSCommand's subcommands")
        #expect(try MountHelper.translate(["aifs", "statu", "/ai"]) == nil, "no -o: the usual 'unexpected argument' error")
        #expect(try MountHelper.translate(["aifs", "--help"]) == nil)
        #expect(try MountHelper.translate(["aifs"]) == nil)
    }

    @Test("a helper call it cannot honour is refused, never guessed")
    func refused() {
        #expect(throws: MountHelper.UsageError.self) { try MountHelper.translate(["mount.fuse.aifs", "none"]) }
        #expect(throws: MountHelper.UsageError.self) { try MountHelper.translate(["mount.fuse.aifs", "none", "/ai", "-f"]) }
        #expect(throws: MountHelper.UsageError.self) { try MountHelper.translate(["mount.fuse.aifs", "none", "/ai", "-o"]) }
    }
}
