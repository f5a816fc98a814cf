import Foundation
import Testing

/// Runs the shell acceptance suite (`Tests/Acceptance/*.sh`) against the built `aifs`, exactly
/// as a user would type it: real bash, echo, cat, tee, rm -r, ls, tail -f, timeout, python3.
@Suite("Shell acceptance", .serialized)
struct AcceptanceScriptTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Acceptance").path

    @Test("Tests/Acceptance/acceptance.sh")
    func acceptanceScript() async throws {
        let r = await Shell.run("bash '\(Self.directory)/acceptance.sh'", timeout: 600)
        print(r.stdout)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains(" passed, 0 failed"), "\(r)")
    }
}
