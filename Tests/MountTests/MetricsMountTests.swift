import Foundation
import Testing

/// `/ai/metrics` on a real mount, read by the reference parser: `prometheus_client`'s
/// `text_string_to_metric_families` (from PyPI). It is installed into a cache directory of its
/// own on first use (`pip install --target`, so no system Python is changed); if that fails the
/// test is skipped with the reason printed, never passed.
@Suite("Mounted: /ai/metrics", .serialized)
struct MetricsMountTests {
    /// Where `prometheus_client` is installed (and pip's cache): the same place `.ci/run` uses.
    static let cache = (ProcessInfo.processInfo.environment["XDG_CACHE_HOME"] ?? (NSHomeDirectory() + "/.cache")) + "/aifs-pip"
    static let site = cache + "/site"

    /// Whether `prometheus_client` imports, installing it first if it is missing.
    static func referenceParser() async -> Bool {
        let r = await Shell.run("""
            export PYTHONPATH="\(site)${PYTHONPATH:+:$PYTHONPATH}"
            python3 -c 'import prometheus_client.parser' 2>/dev/null && exit 0
            python3 -m pip install --quiet --root-user-action=ignore --cache-dir "\(cache)" --target "\(site)" prometheus_client 2>&1 || exit 1
            python3 -c 'import prometheus_client.parser'
            """, timeout: 300)
        if r.status != 0 {
            print("MetricsMountTests skipped: prometheus_client could not be installed from PyPI: \(r.stdout) \(r.stderr)")
        }
        return r.status == 0
    }

    @Test("after N messages the reference parser reads N messages, N completed requests, N latency observations",
          .enabled("prometheus_client (PyPI) could not be installed; the reason is printed above") { await referenceParser() })
    func referenceParserCountsWhatWasDone() async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("""
                export PYTHONPATH="\(Self.site)${PYTHONPATH:+:$PYTHONPATH}"
                mkdir $M/a
                for i in 1 2 3 4 5; do echo "message $i" > $M/a/input; cat $M/a/output > /dev/null; done
                python3 - "$M/metrics" <<'PY'
                import sys
                from prometheus_client.parser import text_string_to_metric_families
                text = open(sys.argv[1]).read()
                for family in text_string_to_metric_families(text):
                    print("family", family.name, family.type)
                    for s in family.samples:
                        labels = ",".join(f'{k}={v}' for k, v in sorted(s.labels.items()))
                        print("sample", s.name + ("{" + labels + "}" if labels else ""), repr(float(s.value)))
                PY
                """)
            #expect(r.status == 0, "\(r)")
            let out = r.stdout
            for family in ["aifs_requests counter", "aifs_messages counter", "aifs_tokens counter", "aifs_input_bytes counter",
                           "aifs_output_bytes counter", "aifs_tool_calls counter", "aifs_request_duration_seconds histogram",
                           "aifs_time_to_first_token_seconds histogram", "aifs_store_commit_seconds histogram",
                           "aifs_sockets gauge", "aifs_queued_messages gauge", "aifs_requests_in_flight gauge",
                           "aifs_parked_readers gauge", "aifs_store_bytes gauge"] {
                #expect(out.contains("family \(family)\n"), "\(family): \(r)")
            }
            // Five messages of 10 bytes ("message N\n"), two words each, echoed back.
            for sample in ["aifs_messages_total 5.0", "aifs_requests_total{outcome=completed} 5.0",
                           "aifs_requests_total{outcome=failed} 0.0", "aifs_request_duration_seconds_count 5.0",
                           "aifs_request_duration_seconds_bucket{le=+Inf} 5.0", "aifs_time_to_first_token_seconds_count 5.0",
                           "aifs_input_bytes_total 50.0", "aifs_output_bytes_total 50.0",
                           "aifs_tokens_total{direction=in} 10.0", "aifs_tokens_total{direction=out} 10.0",
                           "aifs_sockets 1.0", "aifs_requests_in_flight 0.0", "aifs_queued_messages 0.0"] {
                #expect(out.contains("sample \(sample)\n"), "\(sample): \(r)")
            }
            // The mount's store is SQLite on disk: its file has a size, and every message was a commit.
            let storeBytes = out.split(separator: "\n").first { $0.hasPrefix("sample aifs_store_bytes ") }
            #expect(storeBytes.flatMap { Double($0.split(separator: " ").last!) }.map { $0 > 0 } == true, "\(r)")
        }
    }
}
