import Foundation
import Testing

/// Issue 23, "bounded under abuse": requests that name huge sizes, churn, and the write-ahead
/// log under churn. Each test runs its own daemon; the figures are printed.
@Suite("Mounted: bounded under abuse")
struct AbuseTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    static func result(_ output: String) -> [String: Any]? {
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("RESULT ") }) else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
    }

    @Test("truncate, ftruncate, posix_fallocate and pwrite to or at 4 GiB, 1 TiB and 2^62 answer EFBIG or EINVAL from the size alone: VmHWM up by less than 1 MiB, under 1 s of daemon CPU")
    func hugeSizes() async throws {
        try await MountedAIFS.with { mount in
            let r = await Shell.run("python3 '\(Self.directory)/sizes_check.py' '\(mount.mountpoint)' \(mount.pid)")
            print(r.stdout.split(separator: "\n").filter { !$0.hasPrefix("ok ") }.joined(separator: "\n"))
            let result = try #require(Self.result(r.stdout), "\(r)")
            #expect(r.status == 0, "\(r)")
            #expect(result["failures"] as? Int == 0, "\(r.stdout)")
            #expect((result["checks"] as? Int ?? 0) >= 83, "\(r.stdout)")
            // Nothing is allocated: the peak memory stays put, and the daemon's own CPU time for
            // all 234 calls stays under 1 s (one 4 GiB answer took 17 s of it before). Wall time
            // is printed, not asserted: beside the other tests even the fastest of three tries
            // once took 82 ms, the machine's doing, not the daemon's (it was 0.2 ms alone).
            #expect((result["hwm_growth_kib"] as? Int ?? .max) < 1024, "\(r.stdout)")
            #expect((result["daemon_cpu_ms"] as? Double ?? .infinity) < 1000, "\(r.stdout)")
            print("slowest answer \(result["slowest_ms"] ?? "?") ms; daemon CPU \(result["daemon_cpu_ms"] ?? "?") ms for \(result["calls"] ?? "?") calls; VmHWM +\(result["hwm_growth_kib"] ?? "?") KiB")
        }
    }
}
