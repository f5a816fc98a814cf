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

    @Test("Tests/Acceptance/prompt-editors.sh: sed -i, perl -pi -e, Python's atomic write and vim -es on prompt")
    func promptEditors() async throws {
        let r = await Shell.run("bash '\(Self.directory)/prompt-editors.sh'", timeout: 300)
        print(r.stdout)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("18 passed, 0 failed"), "\(r)")
    }

    @Test("Tests/Acceptance/tools.sh: bash, read, write, ask and a configured tool; pending/, aifs approve, deny, undo")
    func tools() async throws {
        let r = await Shell.run("bash '\(Self.directory)/tools.sh'", timeout: 300)
        print(r.stdout)
        #expect(r.status == 0, "\(r)")
        #expect(r.stdout.contains("17 passed, 0 failed"), "\(r)")
    }
}
