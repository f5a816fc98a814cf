import Foundation
import Testing

/// The bad-input table (`bad_input_table.py`): every way a user can get it wrong, each with its
/// errno and its `error` line; afterwards every socket still answers and nothing was lost.
@Suite("Mounted: bad input")
struct BadInputTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path

    @Test("at least 40 bad inputs, each with its errno and a clear error line; every socket still answers after")
    func table() async {
        let r = await MountedAIFS.script(config: "[limits]\nqueue = 3\n",
                                         "python3 '\(Self.directory)/bad_input_table.py' $M")
        let summary = r.stdout.split(separator: "\n").last.map(String.init) ?? ""
        print("bad-input table: \(summary)")
        let checks = Int(summary.split(separator: " ").first ?? "") ?? 0
        #expect(summary.hasSuffix(" checks, 0 failed"), "\(r)")
        #expect(checks >= 40, "\(r)")
        #expect(!r.stdout.contains("FAIL"), "\(r)")
    }
}
