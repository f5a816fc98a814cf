import Foundation

/// `[security] mode`: how much a tool call needs before it runs (see ``ToolPolicy/judge(subject:mode:)``).
public enum SecurityMode: String, Sendable, CaseIterable { case safe, normal, paranoid, trusted }

/// `[security]` of the configuration: the mode and the regular expressions the policy matches
/// tool calls against (ICU syntax, as `NSRegularExpression` takes it; each one is searched for
/// anywhere in the subject, so it is anchored only if it anchors itself).
public struct SecurityConfig: Sendable, Equatable {
    public var mode: SecurityMode = .normal
    public var dangerousPatterns: [String] = SecurityConfig.defaultDangerousPatterns
    public var requireConfirm: [String] = SecurityConfig.defaultRequireConfirm
    public var allow: [String] = []
    /// `[security] confirm_timeout`: seconds a confirmation is waited for.
    public var confirmTimeout: Double = 600

    /// Where a command word starts: the start, or a character that is not part of a word or a
    /// path component (so `/usr/bin/sudo` and `$(sudo …)` count, `pseudo` and `x-sudo` do not).
    static let word = #"(?:^|[^\w.-])"#

    /// Refused in every mode but trusted:
    /// - a recursive `rm` (`-r`, `-R`, `-rf`, `-fr`, `--recursive`, options anywhere) of `/`,
    ///   `/*`, `~`, `~/`, `~/*` or `$HOME` (not of `/tmp/x` or `./build`);
    /// - `mkfs` or `mkfs.TYPE` as a command word;
    /// - `dd` reading `/dev/zero`, `/dev/random` or `/dev/urandom` and writing `of=/dev/…`
    ///   (but not `/dev/null`, `/dev/stdout`, `/dev/stderr`, `/dev/fd/…`);
    /// - a fork bomb, `NAME(){ NAME|NAME& };NAME` (`:(){ :|:& };:`), spaces anywhere;
    /// - a redirection into a block device (`> /dev/sda`, `>/dev/nvme0n1`, `/dev/mapper/…`);
    /// - `mke2fs`, `mkswap` and `wipefs` as commands; `shred` of a `/dev/…` path; `find /` with
    ///   `-delete`.
    public static let defaultDangerousPatterns: [String] = [
        word + #"rm(?=[^;&|\n]*\s(?:-[a-zA-Z]*[rR]|--recursive))(?:\s+[^\s;&|]+)*?\s+["']?(?:/|~|\$HOME|\$\{HOME\})/?\*?["']?(?=$|[\s;&|)])"#,
        word + #"mkfs(?:\.\w+)?(?![\w.-])"#,
        word + #"dd(?=[^;&|\n]*\sif=/dev/(?:zero|u?random)(?![\w/]))(?=[^;&|\n]*\sof=/dev/(?!null(?![\w/])|stdout|stderr|fd/))\s"#,
        #"(?<![\w:])([\w:]+)\s*\(\)\s*\{\s*\1\s*\|\s*\1\s*&\s*\}\s*;\s*\1"#,
        #">\s*/dev/(?:[shv]d[a-z]|xvd[a-z]|nvme\d|mmcblk\d|md\d|dm-\d|loop\d|mapper/|disk/)"#,
        word + #"(?:mke2fs|mkswap|wipefs)(?![\w.-])"#,
        word + #"shred(?=[^;&|\n]*\s/dev/)"#,
        word + #"find\s+/(?=[\s;&|]|$)(?=[^;&|\n]*\s-delete(?![\w-]))"#,
    ]

    /// Confirmed in normal mode, refused in safe mode: `sudo`, `su`, `doas`, `pkexec` as a
    /// command word; `systemctl`; `pacman` with `-R…` or `--remove`; `apt`/`apt-get` `remove`,
    /// `purge` or `autoremove`; `shutdown`, `reboot`, `poweroff`, `halt`.
    public static let defaultRequireConfirm: [String] = [
        word + #"(?:sudo|su|doas|pkexec)(?![\w./-])"#,
        word + #"systemctl(?![\w.-])"#,
        word + #"pacman(?=[^;&|\n]*\s(?:-R|--remove(?![\w-])))"#,
        word + #"apt(?:-get)?\s+(?:-\S+\s+)*(?:remove|purge|autoremove)(?![\w-])"#,
        word + #"(?:shutdown|reboot|poweroff|halt)(?![\w.-])"#,
    ]

    public init() {}
}

/// What the policy says of one tool call. The string is the reason, for the user (and, for a
/// refusal, for the model).
public enum ToolVerdict: Sendable, Equatable { case run; case confirm(String); case refuse(String) }

/// The security policy of tool calls ("the AI judges, the tool executes"): the configured
/// patterns, compiled, and the rules of each ``SecurityMode``.
public struct ToolPolicy: Sendable {
    /// One pattern: its text (named in reasons) and its compiled form.
    struct Pattern: Sendable {
        let text: String
        let regex: NSRegularExpression

        func matches(_ subject: String) -> Bool {
            regex.firstMatch(in: subject, range: NSRange(subject.startIndex..., in: subject)) != nil
        }
    }

    let dangerous: [Pattern]
    let requireConfirm: [Pattern]
    let allow: [Pattern]

    /// Compiles every pattern; a bad one is an error naming it.
    public init(_ config: SecurityConfig) throws(ToolCallError) {
        dangerous = try config.dangerousPatterns.map(Self.compile)
        requireConfirm = try config.requireConfirm.map(Self.compile)
        allow = try config.allow.map(Self.compile)
    }

    static func compile(_ text: String) throws(ToolCallError) -> Pattern {
        do {
            return Pattern(text: text, regex: try NSRegularExpression(pattern: text))
        } catch {
            throw ToolCallError("'\(text)' is not a regular expression")
        }
    }

    /// What is matched: for `bash` the command (its `command` argument, when it is a string);
    /// for any other tool `"NAME "` followed by the arguments' JSON text.
    public static func subject(tool: String, arguments: [String: any Sendable], json: String) -> String {
        if tool == "bash", let command = arguments["command"] as? String { return command }
        return tool + " " + json
    }

    /// The verdict on `subject` in `mode`:
    /// - trusted: run.
    /// - normal: a dangerous pattern refuses, a require_confirm pattern asks; else run.
    /// - safe: dangerous or require_confirm refuses; everything else asks.
    /// - paranoid: dangerous refuses; an allow pattern asks; everything else is refused.
    /// The longest subject the patterns are matched against: a longer call (a `write` of a big
    /// file) has its first 16 KiB checked for dangerous patterns, and then needs confirmation
    /// (normal, safe) or is refused (paranoid), since no pattern can vouch for the rest. This
    /// also bounds the time matching takes.
    public static let longestSubject = 16 * 1024

    public func judge(subject: String, mode: SecurityMode) -> ToolVerdict {
        if mode == .trusted { return .run }
        let long = subject.utf8.count > Self.longestSubject
        let subject = long ? String(decoding: subject.utf8.prefix(Self.longestSubject), as: UTF8.self) : subject
        if let pattern = dangerous.first(where: { $0.matches(subject) }) {
            return .refuse("matches dangerous pattern '\(pattern.text)' ([security] dangerous_patterns)")
        }
        if long {
            let reason = "the call is over \(Self.longestSubject / 1024) KiB, too long to check against the patterns"
            return mode == .paranoid ? .refuse("paranoid mode: \(reason)") : .confirm(reason)
        }
        switch mode {
        case .trusted: return .run
        case .normal:
            if let pattern = requireConfirm.first(where: { $0.matches(subject) }) {
                return .confirm("matches '\(pattern.text)' ([security] require_confirm)")
            }
            return .run
        case .safe:
            if let pattern = requireConfirm.first(where: { $0.matches(subject) }) {
                return .refuse("safe mode refuses what [security] require_confirm lists: matches '\(pattern.text)'")
            }
            return .confirm("safe mode: every call is confirmed")
        case .paranoid:
            if allow.contains(where: { $0.matches(subject) }) { return .confirm("paranoid mode: every call is confirmed") }
            return .refuse("paranoid mode: not matched by [security] allow")
        }
    }
}
