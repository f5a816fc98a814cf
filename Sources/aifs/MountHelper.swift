import Foundation

/// The two ways `mount(8)` starts a FUSE filesystem, turned into an ordinary `aifs mount …`:
///
/// - `mount.fuse.aifs SOURCE DIR [-o OPTS] [-t TYPE] [-n] [-s] [-v]` — util-linux runs
///   `/sbin/mount.fuse.aifs` (installed as a symlink to `aifs`) for `mount -t fuse.aifs` and for
///   an `/etc/fstab` line of type `fuse.aifs`.
/// - `aifs SOURCE DIR -o OPTS` — fuse3's `/sbin/mount.fuse` runs the type's program this way when
///   no `mount.fuse.aifs` exists (`mount -t fuse.aifs`, or `aifs#SOURCE DIR fuse …` in fstab).
///   It always passes `-o` (it adds `dev,suid` at least), which tells this form apart from a
///   mistyped subcommand.
///
/// SOURCE is ignored (write `none` or `aifs`). Options only `mount(8)` or fstab understand
/// (`defaults`, `noauto`, `nofail`, `_netdev`, `x-*`, …) are dropped; `config=FILE` and
/// `store=PATH` become `--config` and `--store`; the rest go to FUSE as `-o`.
enum MountHelper {
    /// The names `aifs` takes as its first argument: never the SOURCE of a helper call.
    static var subcommands: Set<String> {
        Set(AIFSCommand.configuration.subcommands.compactMap { $0.configuration.commandName } + ["help"])
    }

    /// Options that only mount(8) and fstab use.
    static let mountOnly: Set<String> = ["defaults", "auto", "noauto", "user", "users", "nouser",
                                         "owner", "group", "nofail", "_netdev"]

    /// The default search path of `/bin/sh`: mount(8) starts helpers with no PATH at all, and the
    /// daemon's `exec` providers need one.
    static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    struct UsageError: Error, CustomStringConvertible {
        let description: String
    }

    /// `argv` (with the program name first) as a mount helper call, translated to the arguments
    /// of `aifs` (without the program name); nil when it is an ordinary `aifs` command line.
    static func translate(_ argv: [String]) throws -> [String]? {
        let program = URL(fileURLWithPath: argv.first ?? "aifs").lastPathComponent
        let rest = Array(argv.dropFirst())
        let calledAsHelper = program.hasPrefix("mount.")  // mount.fuse.aifs (or mount.aifs)
        if !calledAsHelper {
            guard let first = rest.first, !first.hasPrefix("-"), !subcommands.contains(first),
                  rest.contains("-o") else { return nil }
        }
        var positional: [String] = []
        var options: [String] = []
        var index = 0
        while index < rest.count {
            let argument = rest[index]
            switch argument {
            case "-o", "-t":
                guard index + 1 < rest.count else { throw UsageError(description: "\(argument) needs a value") }
                if argument == "-o" { options += rest[index + 1].split(separator: ",").map(String.init) }
                index += 2
                continue
            case "-n", "-s", "-v":
                break  // no mtab, sloppy, verbose: nothing to do
            default:
                if argument.hasPrefix("-o"), argument.count > 2 {
                    options += argument.dropFirst(2).split(separator: ",").map(String.init)
                } else if argument.hasPrefix("-") {
                    throw UsageError(description: "option \(argument) is not supported by the aifs mount helper")
                } else {
                    positional.append(argument)
                }
            }
            index += 1
        }
        guard positional.count == 2 else {
            throw UsageError(description: "usage: mount.fuse.aifs SOURCE MOUNTPOINT [-o OPTIONS]")
        }
        var result = ["mount", positional[1]]
        var fuseOptions: [String] = []
        for option in options where !option.isEmpty {
            if mountOnly.contains(option) || option.hasPrefix("x-") || option.hasPrefix("comment=") { continue }
            if option.hasPrefix("config=") {
                result += ["--config", String(option.dropFirst("config=".count))]
            } else if option.hasPrefix("store=") {
                result += ["--store", String(option.dropFirst("store=".count))]
            } else {
                fuseOptions.append(option)
            }
        }
        if !fuseOptions.isEmpty { result += ["-o", fuseOptions.joined(separator: ",")] }
        return result
    }
}
