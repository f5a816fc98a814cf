@testable import AIFSCore
import Foundation
import Testing

/// The security policy of tool calls: each mode, and each default pattern against what it
/// means and what it must not catch.
@Suite("tool policy")
struct ToolPolicyTests {
    static let policy = try! ToolPolicy(SecurityConfig())

    /// Whether `subject` matches the default pattern at `index` of `patterns`, alone.
    func matches(_ patterns: [String], _ index: Int, _ subject: String) throws -> Bool {
        var config = SecurityConfig()
        config.dangerousPatterns = [patterns[index]]
        config.requireConfirm = []
        return try ToolPolicy(config).judge(subject: subject, mode: .normal) != .run
    }

    func expectPattern(_ patterns: [String], _ index: Int, matches yes: [String], not no: [String]) throws {
        for subject in yes { #expect(try matches(patterns, index, subject), "should match: \(subject)") }
        for subject in no { #expect(try !matches(patterns, index, subject), "should not match: \(subject)") }
    }

    @Test("rm -rf of / or ~, however the flags are written; not of a subdirectory")
    func rmRoot() throws {
        try expectPattern(SecurityConfig.defaultDangerousPatterns, 0, matches: [
            "rm -rf /", "rm -rf /*", "rm -fr /", "rm -r -f /", "sudo rm -rf / ", "rm -rf --no-preserve-root /", "rm -rf ~",
            "rm -rf ~/", "rm -Rf /", "rm --recursive --force /", "cd /tmp && rm -rf /", "rm -rf \"/\"", "rm -rf $HOME",
            "rm -rf ./build /", "/bin/rm -rf /",
        ], not: [
            "rm -rf /tmp/x", "rm -rf ./build", "rm -rf ~/src", "rm -f /", "rm -rf /tmp/x; ls /", "farm -rf /",
            "rm -rf build", "echo rm", "rmdir /",
        ])
    }

    @Test("mkfs as a command word, with or without a type")
    func mkfs() throws {
        try expectPattern(SecurityConfig.defaultDangerousPatterns, 1, matches: [
            "mkfs.ext4 /dev/sda1", "mkfs -t ext4 /dev/sdb", "/sbin/mkfs.xfs /dev/vdb", "sudo mkfs.vfat /dev/sdc1", "x; mkfs",
        ], not: ["mkfsx", "echo mymkfs", "ls mkfs-notes.txt", "cat my-mkfs"])
    }

    @Test("dd from /dev/zero or /dev/(u)random onto a device, in either order; not into a file or /dev/null")
    func dd() throws {
        try expectPattern(SecurityConfig.defaultDangerousPatterns, 2, matches: [
            "dd if=/dev/zero of=/dev/sda", "sudo dd bs=1M if=/dev/urandom of=/dev/nvme0n1", "dd of=/dev/sdb if=/dev/random",
        ], not: [
            "dd if=/dev/zero of=disk.img bs=1M count=10", "dd if=/dev/zero of=/dev/null", "dd if=/dev/sda of=backup.img",
            "add if=/dev/zero of=/dev/sda", "dd if=/dev/zeros of=/dev/sda",
        ])
    }

    @Test("a fork bomb, with any name and spacing")
    func forkBomb() throws {
        try expectPattern(SecurityConfig.defaultDangerousPatterns, 3, matches: [
            ":(){ :|:& };:", "bomb(){ bomb|bomb& };bomb", ": () { : | : & } ; :",
        ], not: ["f(){ echo hi; }; f", "a | b & c"])
    }

    @Test("a redirection into a block device; not into /dev/null or a file")
    func blockDevice() throws {
        try expectPattern(SecurityConfig.defaultDangerousPatterns, 4, matches: [
            "echo x > /dev/sda", "cat image >/dev/nvme0n1", "cat x >> /dev/sdb1", "cat x > /dev/mmcblk0",
        ], not: ["echo x 2>/dev/null", "ls > /dev/stdout", "echo > /tmp/dev/sda.txt", "cat /dev/sda"])
    }

    @Test("sudo, su, doas, pkexec as command words; pseudo, sudoers and sugar are not")
    func privilege() throws {
        try expectPattern(SecurityConfig.defaultRequireConfirm, 0, matches: [
            "sudo ls", "su -", "su root -c id", "make && sudo make install", "/usr/bin/sudo id", "$(sudo cat x)", "doas ls",
        ], not: ["pseudo ls", "cat /etc/sudoers", "echo sugar", "x-sudo", "ls sudo.txt", "issue"])
    }

    @Test("systemctl, pacman -R, apt remove/purge, shutdown/reboot/poweroff")
    func systemCommands() throws {
        let confirm = SecurityConfig.defaultRequireConfirm
        try expectPattern(confirm, 1, matches: ["systemctl restart nginx", "sudo systemctl stop x"],
                          not: ["cat systemctl.txt", "mysystemctl"])
        try expectPattern(confirm, 2, matches: ["pacman -R vim", "sudo pacman -Rns vim", "pacman --remove vim"],
                          not: ["pacman -Syu", "pacman -S foo-R", "pacman -Qs vim"])
        try expectPattern(confirm, 3, matches: ["apt remove vim", "apt-get -y purge vim", "sudo apt autoremove"],
                          not: ["apt install vim", "apt-get install remove-me", "capt remove", "apt list"])
        try expectPattern(confirm, 4, matches: ["shutdown -h now", "reboot", "systemctl poweroff", "halt"],
                          not: ["echo rebooted", "ls shutdown.log", "reboots"])
    }

    @Test("trusted runs everything, even what is dangerous")
    func trusted() {
        for subject in ["rm -rf /", "sudo ls", "ls"] { #expect(Self.policy.judge(subject: subject, mode: .trusted) == .run) }
    }

    @Test("normal refuses dangerous, confirms require_confirm, runs the rest")
    func normal() {
        let danger = Self.policy.judge(subject: "rm -rf /", mode: .normal)
        #expect(danger == .refuse("matches dangerous pattern '\(SecurityConfig.defaultDangerousPatterns[0])' ([security] dangerous_patterns)"))
        #expect(Self.policy.judge(subject: "sudo ls", mode: .normal)
                == .confirm("matches '\(SecurityConfig.defaultRequireConfirm[0])' ([security] require_confirm)"))
        #expect(Self.policy.judge(subject: "ls -la", mode: .normal) == .run)
        #expect(SecurityConfig().mode == .normal)
    }

    @Test("safe refuses dangerous and require_confirm, confirms the rest")
    func safe() {
        guard case .refuse(let reason) = Self.policy.judge(subject: "rm -rf /", mode: .safe) else { Issue.record("not refused"); return }
        #expect(reason.contains("dangerous_patterns"))
        guard case .refuse(let confirm) = Self.policy.judge(subject: "sudo ls", mode: .safe) else { Issue.record("not refused"); return }
        #expect(confirm.hasPrefix("safe mode refuses") && confirm.contains("'\(SecurityConfig.defaultRequireConfirm[0])'"))
        #expect(Self.policy.judge(subject: "ls", mode: .safe) == .confirm("safe mode: every call is confirmed"))
    }

    @Test("paranoid refuses dangerous and anything not allowed, confirms what allow matches")
    func paranoid() throws {
        var config = SecurityConfig()
        config.allow = [#"^ls(\s|$)"#, #"^read "#, #"rm -rf"#]
        let policy = try ToolPolicy(config)
        guard case .refuse(let reason) = policy.judge(subject: "rm -rf /", mode: .paranoid) else { Issue.record("not refused"); return }
        #expect(reason.contains("dangerous pattern"))
        #expect(policy.judge(subject: "ls -la", mode: .paranoid) == .confirm("paranoid mode: every call is confirmed"))
        #expect(policy.judge(subject: "read {\"path\":\"/etc/hosts\"}", mode: .paranoid) == .confirm("paranoid mode: every call is confirmed"))
        #expect(policy.judge(subject: "cat x", mode: .paranoid) == .refuse("paranoid mode: not matched by [security] allow"))
        #expect(policy.judge(subject: "sudo ls", mode: .paranoid) == .refuse("paranoid mode: not matched by [security] allow"))
        #expect(Self.policy.judge(subject: "ls", mode: .paranoid) == .refuse("paranoid mode: not matched by [security] allow"))
    }

    @Test("patterns are searched anywhere unless they anchor; a configured list replaces the default")
    func searching() throws {
        var config = SecurityConfig()
        config.dangerousPatterns = ["^danger"]
        config.requireConfirm = ["ask"]
        let policy = try ToolPolicy(config)
        #expect(policy.judge(subject: "danger now", mode: .normal) == .refuse("matches dangerous pattern '^danger' ([security] dangerous_patterns)"))
        #expect(policy.judge(subject: "no danger", mode: .normal) == .run)
        #expect(policy.judge(subject: "please ask me", mode: .normal) == .confirm("matches 'ask' ([security] require_confirm)"))
        #expect(policy.judge(subject: "rm -rf /", mode: .normal) == .run)
    }

    @Test("a bad regex is an error naming the pattern")
    func badPattern() {
        var config = SecurityConfig()
        config.allow = ["ok", "a(b"]
        #expect(throws: ToolCallError("'a(b' is not a regular expression")) { try ToolPolicy(config) }
    }

    @Test("the subject: bash's command, NAME and the JSON for other tools")
    func subject() {
        #expect(ToolPolicy.subject(tool: "bash", arguments: ["command": "ls /"], json: #"{"command":"ls /"}"#) == "ls /")
        #expect(ToolPolicy.subject(tool: "read", arguments: ["path": "/etc"], json: #"{"path":"/etc"}"#) == #"read {"path":"/etc"}"#)
        #expect(ToolPolicy.subject(tool: "bash", arguments: [:], json: "{}") == "bash {}")
        let write = ToolPolicy.subject(tool: "write", arguments: [:], json: #"{"content":"sudo reboot","path":"x.sh"}"#)
        #expect(Self.policy.judge(subject: write, mode: .normal) != .run)
    }

    @Test("a subject over 16 KiB: its start is checked for dangerous patterns, then it needs confirmation (refused in paranoid); a long run of word characters does not make matching slow")
    func longSubjects() {
        let long = "write " + String(repeating: "a", count: 40_000)
        #expect(Self.policy.judge(subject: long, mode: .normal) == .confirm("the call is over 16 KiB, too long to check against the patterns"))
        #expect(Self.policy.judge(subject: long, mode: .safe) == .confirm("the call is over 16 KiB, too long to check against the patterns"))
        #expect(Self.policy.judge(subject: long, mode: .paranoid) == .refuse("paranoid mode: the call is over 16 KiB, too long to check against the patterns"))
        #expect(Self.policy.judge(subject: long, mode: .trusted) == .run)
        guard case .refuse = Self.policy.judge(subject: "rm -rf / " + String(repeating: "x", count: 40_000), mode: .normal) else {
            Issue.record("a dangerous start of a long call must be refused")
            return
        }
        // The fork-bomb pattern starts at a word's start (it used to retry from every character).
        #expect(Self.policy.judge(subject: String(repeating: "a", count: 16_000), mode: .normal) == .run)
        #expect(Self.policy.judge(subject: ":(){ :|:& };:", mode: .normal) != .run)
    }

    @Test("more destruction the defaults refuse: mke2fs, mkswap, wipefs, shred of a device, find / -delete; not their harmless look-alikes")
    func moreDangerousDefaults() {
        for command in ["mke2fs /dev/sdb1", "sudo wipefs -a /dev/sda", "mkswap /dev/sdc", "shred -n 1 /dev/sda",
                        "find / -name '*.log' -delete", "cd /tmp; find / -delete"] {
            guard case .refuse = Self.policy.judge(subject: command, mode: .normal) else {
                Issue.record("not refused: \(command)")
                continue
            }
        }
        for command in ["shred notes.txt", "find /tmp/x -delete", "find / -name core", "echo wipefsck", "cat mkswap.txt"] {
            #expect(Self.policy.judge(subject: command, mode: .normal) == .run, "\(command)")
        }
    }
}
