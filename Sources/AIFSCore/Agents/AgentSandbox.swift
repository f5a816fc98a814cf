import Foundation
import FuseKit
#if canImport(Glibc)
import Glibc
#endif

/// The bubblewrap command line an agent runs in: its own namespaces (no network at all: only
/// its own loopback; its own pids, IPC and hostname), the system directories read-only, a
/// private `/tmp`, a writable home of its own, and of the mount only its socket directory (and
/// the sockets its configuration grants, and `/ai/directory`) at `/ai`. Nothing of the
/// daemon's environment: the variables are set from nothing.
///
/// It runs as the socket's owner. A daemon that is root runs bwrap as root (so that it can
/// bind the home, kept in the store's private directory, and the mount), without a user
/// namespace, and bwrap runs `setpriv` inside, which becomes the owner (its groups, no
/// capabilities, no new privileges) before it `exec`s the program; for an owner who is root,
/// bwrap drops every capability itself (`--cap-drop ALL`). A daemon that is not root runs
/// bwrap unprivileged (a user namespace), for its own sockets only.
struct AgentSandbox {
    /// Debian's bubblewrap.
    static let bwrap = "/usr/bin/bwrap"
    /// The agent's home inside.
    static let home = "/home/agent"

    var config: AgentConfig
    var socketName: String
    var uid: UInt32
    var gid: UInt32
    /// The mount on the host, and the directory holding this agent's home on the host.
    var mountpoint: String
    var hostHome: String

    /// The variables the program sees, and nothing else.
    var environment: [String: String] {
        let account = ToolRunner.account(uid: uid)
        let user = account?.name ?? "uid\(uid)"
        var variables = config.environment
        variables.merge(["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": Self.home, "USER": user, "LOGNAME": user,
                         "SHELL": "/bin/sh", "LANG": "C.UTF-8", "TMPDIR": "/tmp",
                         "AIFS_AGENT": config.name, "AIFS_SOCKET": "/ai/\(socketName)"]) { $1 }
        return variables
    }

    /// bwrap's arguments, ending with the program's.
    var arguments: [String] {
        let privileged = geteuid() == 0
        var args = privileged
            ? ["--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try"]
            : ["--unshare-all"]
        args += ["--die-with-parent", "--clearenv"]
        if privileged, uid == 0 { args += ["--cap-drop", "ALL"] }
        args += ["--ro-bind", "/usr", "/usr"]
        for path in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                args += ["--symlink", target, path]
            } else if Self.isDirectory(path) {
                args += ["--ro-bind", path, path]
            }
        }
        args += ["--perms", "0755", "--dir", "/etc"]
        for path in ["/etc/passwd", "/etc/group", "/etc/nsswitch.conf", "/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"] {
            args += ["--ro-bind-try", path, path]
        }
        args += ["--proc", "/proc", "--dev", "/dev", "--perms", "1777", "--tmpfs", "/tmp", "--perms", "0755", "--dir", "/ai",
                 "--perms", "0755", "--dir", "/home"]
        args += ["--bind", mountpoint + "/" + socketName, "/ai/" + socketName]
        for other in config.sockets where other != socketName && SocketName.problem(with: FileName(other)) == nil {
            if Self.isDirectory(mountpoint + "/" + other) { args += ["--bind", mountpoint + "/" + other, "/ai/" + other] }
        }
        args += ["--ro-bind-try", mountpoint + "/directory", "/ai/directory"]
        args += ["--bind", hostHome, Self.home, "--chdir", Self.home]
        // The directories leading to them are made traversable first (bwrap would make them 0700).
        var made: Set<String> = ["/", "/tmp", "/home", "/ai", Self.home]
        for path in readOnlyPaths {
            var parent = ""
            for component in path.split(separator: "/").dropLast() {
                parent += "/" + component
                if parent.hasPrefix("/usr") || parent.hasPrefix("/proc") || parent.hasPrefix("/dev") { break }
                if made.insert(parent).inserted { args += ["--perms", "0755", "--dir", parent] }
            }
            args += ["--ro-bind", path, path]
        }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) where !key.isEmpty && !key.contains("=") {
            args += ["--setenv", key, value]
        }
        args.append("--")
        if privileged, uid != 0 {
            let groups = ToolRunner.groups(uid: uid, gid: gid)
            args += [ToolRunner.setpriv, "--reuid=\(uid)", "--regid=\(gid)",
                     groups.isEmpty ? "--clear-groups" : "--groups=" + groups.map(String.init).joined(separator: ","),
                     "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
        }
        return args + config.command
    }

    /// `ro_bind`, and each absolute path in the command that names a file outside the system
    /// directories (its script): bound read-only where they are.
    var readOnlyPaths: [String] {
        var paths = config.readOnlyPaths.filter { FileManager.default.fileExists(atPath: $0) }
        for argument in config.command where argument.hasPrefix("/") && !argument.hasPrefix("/ai/") {
            var isDirectory: ObjCBool = false
            let resolved = URL(fileURLWithPath: argument).resolvingSymlinksInPath().path
            if !resolved.hasPrefix("/usr/"), !argument.hasPrefix("/usr/"),
               FileManager.default.fileExists(atPath: argument, isDirectory: &isDirectory), !isDirectory.boolValue,
               !paths.contains(argument) {
                paths.append(argument)
            }
        }
        return paths
    }

    static func isDirectory(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
    }

    /// Makes the agent's home (`root/ID`, mode 0700, owned by the owner) and its parent
    /// (0711: a daemon that is not root binds it as the owner, who must pass through it).
    static func prepareHome(root: String, socket: SocketID, uid: UInt32, gid: UInt32) throws(ToolRunError) -> String {
        let home = root + "/\(socket)"
        do {
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        } catch {
            throw ToolRunError("agent home \(root): \(error.localizedDescription)")
        }
        chmod(root, 0o711)
        if mkdir(home, 0o700) != 0, errno != EEXIST {
            throw ToolRunError("agent home \(home): \(String(cString: strerror(errno)))")
        }
        if chown(home, uid, gid) != 0 || chmod(home, 0o700) != 0 {
            throw ToolRunError("agent home \(home): \(String(cString: strerror(errno)))")
        }
        return home
    }
}
