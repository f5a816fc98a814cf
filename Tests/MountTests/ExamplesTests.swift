import Foundation
import Testing

/// Every script in `examples/` runs against a real mount and does what its comment says.
@Suite("Mounted: examples/", .serialized)
struct ExamplesTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("examples").path

    @Test("examples run as documented", arguments: [
        ("hello.sh", "What is a file?"),
        ("fan-out.sh", "left and right agree"),
        ("chain.sh", "[team-chat-to-editor]"),
        ("stream.py", "'six\\n'"),
        ("team-chat.sh", "[team-chat-from-carol] [synthesis]"),
        ("pipeline.sh", "--- piped: editor says\nWrite a limerick about pipes.\n"),
    ])
    func example(name: String, expected: String) async throws {
        try await MountedAIFS.with { m in
            let r = await m.sh("'\(Self.directory)/\(name)' \"$M\" && ls $M | tr '\\n' ' '", timeout: 60)
            #expect(r.status == 0, "\(r)")
            #expect(r.stdout.contains(expected), "\(r)")
            #expect(r.stdout.hasSuffix("ctl memory models snapshots team-chat-all "), "the example cleans up its sockets: \(r)")
        }
    }
}
