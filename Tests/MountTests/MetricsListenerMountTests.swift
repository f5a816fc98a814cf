import Foundation
import Testing

/// `[metrics] listen` on a real daemon: `GET /metrics` serves what `/ai/metrics` shows (read by
/// `prometheus_client`'s parser, see ``MetricsMountTests``), `404` and `405` for the rest; off by
/// default; an address in use fails the mount with the reason.
@Suite("Mounted: [metrics] listen", .serialized)
struct MetricsListenerMountTests {
    /// Prints the TCP sockets in LISTEN state that the process `$1` holds, one `listening PORT`
    /// line each (from /proc: its fds' socket inodes, matched in /proc/net/tcp and tcp6).
    static let listeningSockets = """
        listening() {
            python3 - "$1" "$$" <<'PY'
        import os, sys
        pid = sys.argv[1]
        def sockets(pid):
            found = set()
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try: target = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError: continue
                if target.startswith("socket:["): found.add(target[8:-1])
            return found
        # Not those the daemon inherited: the test process's own servers (other tests run at
        # the same time) reach every child it spawns, this script's shell ($2) included.
        inodes = sockets(pid) - sockets(sys.argv[2])
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in open(table).read().splitlines()[1:]:
                f = line.split()
                if f[3] == "0A" and f[9] in inodes: print("listening", int(f[1].split(":")[1], 16))
        PY
        }
        """

    @Test("GET /metrics serves the mount's /ai/metrics; counters match what was done; 404, 405, HEAD",
          .enabled("prometheus_client (PyPI) could not be installed; the reason is printed") { await MetricsMountTests.referenceParser() })
    func servesMetrics() async {
        let r = await MountedAIFS.script(config: "[metrics]\nlisten = \"127.0.0.1:0\"\n", """
            export PYTHONPATH="\(MetricsMountTests.site)${PYTHONPATH:+:$PYTHONPATH}"
            \(Self.listeningSockets)
            URL=$(sed -n 's/^metrics-listen: //p' $M/ctl); echo "url=$URL"
            PID=$(sed -n 's/^pid: //p' $M/ctl)
            listening $PID
            mkdir $M/a $M/b
            for i in 1 2 3; do echo "one two $i" > $M/a/input; cat $M/a/output > /dev/null; done
            echo "four five six seven" > $M/b/input; cat $M/b/output > /dev/null
            python3 - "$URL" "$M/metrics" <<'PY'
            import sys, urllib.request, urllib.error
            from prometheus_client.parser import text_string_to_metric_families
            url, path = sys.argv[1], sys.argv[2]
            def samples(text):
                out = {}
                for family in text_string_to_metric_families(text):
                    for s in family.samples:
                        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
                        out[s.name + ("{" + labels + "}" if labels else "")] = repr(float(s.value))
                return out
            with urllib.request.urlopen(url) as response:
                print("status", response.status)
                print("content-type", response.headers["Content-Type"])
                served = samples(response.read().decode())
            mounted = samples(open(path).read())
            for name in ["aifs_messages_total", "aifs_requests_total{outcome=completed}", "aifs_requests_total{outcome=failed}",
                         "aifs_tokens_total{direction=in}", "aifs_tokens_total{direction=out}", "aifs_input_bytes_total",
                         "aifs_output_bytes_total", "aifs_request_duration_seconds_count", "aifs_sockets"]:
                print("served", name, served.get(name), "mounted", mounted.get(name))
            print("same names", sorted(served) == sorted(mounted))
            for method, target in [("GET", url.replace("/metrics", "/other")), ("POST", url), ("DELETE", url)]:
                try:
                    urllib.request.urlopen(urllib.request.Request(target, method=method, data=b"x" if method == "POST" else None))
                    print(method, target.rsplit("/", 1)[1], "no error")
                except urllib.error.HTTPError as e:
                    print(method, target.rsplit("/", 1)[1], e.code, e.headers.get("Allow"))
            # One connection, two requests (keep-alive), the second after a refused one.
            import http.client
            hostport = url.split("/")[2]
            conn = http.client.HTTPConnection(hostport.rsplit(":", 1)[0], int(hostport.rsplit(":", 1)[1]))
            statuses = []
            for target in ["/nope", "/metrics?x=1"]:
                conn.request("GET", target); answer = conn.getresponse(); answer.read(); statuses.append(answer.status)
            print("one connection", statuses, conn.sock is not None)
            with urllib.request.urlopen(urllib.request.Request(url, method="HEAD")) as response:
                print("HEAD", response.status, len(response.read()), int(response.headers["Content-Length"]) > 0)
            PY
            """)
        #expect(r.status == 0, "\(r)")
        let out = r.stdout
        #expect(out.contains("url=http://127.0.0.1:"), "\(r)")
        #expect(out.components(separatedBy: "listening ").count == 2, "one listening socket: \(r)")
        #expect(out.contains("status 200\ncontent-type text/plain; version=0.0.4; charset=utf-8\n"), "\(r)")
        // Four messages: 3 × "one two N\n" (10 bytes, 3 words) and "four five six seven\n" (20 bytes, 4 words), echoed.
        for (name, value) in [("aifs_messages_total", "4.0"), ("aifs_requests_total{outcome=completed}", "4.0"),
                              ("aifs_requests_total{outcome=failed}", "0.0"), ("aifs_tokens_total{direction=in}", "13.0"),
                              ("aifs_tokens_total{direction=out}", "13.0"), ("aifs_input_bytes_total", "50.0"),
                              ("aifs_output_bytes_total", "50.0"), ("aifs_request_duration_seconds_count", "4.0"),
                              ("aifs_sockets", "2.0")] {
            #expect(out.contains("served \(name) \(value) mounted \(value)\n"), "\(name): \(r)")
        }
        #expect(out.contains("same names True\n"), "\(r)")
        #expect(out.contains("GET other 404 None\n"), "\(r)")
        #expect(out.contains("POST metrics 405 GET, HEAD\n") && out.contains("DELETE metrics 405 GET, HEAD\n"), "\(r)")
        #expect(out.contains("HEAD 200 0 True\n"), "\(r)")
        #expect(out.contains("one connection [404, 200] True\n"), "keep-alive; a query string is ignored: \(r)")
        if let port = out.split(separator: "\n").first(where: { $0.hasPrefix("url=") })?.split(separator: ":").last?.split(separator: "/").first {
            #expect(out.contains("listening \(port)\n"), "the listening socket is the one ctl names: \(r)")
        }
    }

    @Test("off by default: no metrics-listen line, and the daemon holds no listening TCP socket")
    func offByDefault() async {
        let r = await MountedAIFS.script(config: "", """
            \(Self.listeningSockets)
            grep -c '^metrics-listen:' $M/ctl
            PID=$(sed -n 's/^pid: //p' $M/ctl); echo "pid=$PID"
            test -d /proc/$PID/fd && echo "proc readable"
            listening $PID
            echo done
            """)
        #expect(r.stdout.hasPrefix("0\npid="), "\(r)")
        #expect(r.stdout.contains("proc readable\ndone\n"), "nothing listening: \(r)")
    }

    @Test("an address in use fails the mount, saying which and why; nothing is mounted")
    func addressInUse() async {
        let dir = MountedAIFS.makeTempDirectory("aifs-metrics-busy")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = await Shell.run("""
            mkdir -p \(dir)/mnt
            python3 - "\(dir)" <<'PY'
            import socket, subprocess, sys, os
            d = sys.argv[1]
            s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(); port = s.getsockname()[1]
            open(d + "/config.toml", "w").write(f'[metrics]\\nlisten = "127.0.0.1:{port}"\\n')
            r = subprocess.run([os.environ["AIFS"], "mount", d + "/mnt", "--config", d + "/config.toml", "--store", "memory"],
                               capture_output=True, text=True)
            print("port", port, "rc", r.returncode)
            print(r.stderr)
            PY
            grep -q " \(dir)/mnt " /proc/mounts && { echo "mounted"; umount -l \(dir)/mnt; } || echo "not mounted"
            """)
        let port = r.stdout.split(separator: "\n").first?.split(separator: " ").dropFirst().first ?? "?"
        #expect(r.stdout.contains(" rc 1\n"), "\(r)")
        #expect(r.stdout.contains("[metrics] listen = \"127.0.0.1:\(port)\": cannot listen: Address already in use"), "\(r)")
        #expect(r.stdout.hasSuffix("not mounted\n"), "\(r)")
    }
}
