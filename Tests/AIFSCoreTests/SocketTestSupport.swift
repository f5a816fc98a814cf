@testable import AIFSCore
import FuseKit
import Testing

/// Driving a socket without a mount: submit a message and wait for its commit, wait until the
/// queue is answered.
enum SocketTestSupport {
    static func submit(_ socket: Socket, _ text: String, uid: UInt32 = 0) async -> Errno? {
        await withCheckedContinuation { continuation in
            socket.submit(Array(text.utf8), uid: uid) { continuation.resume(returning: $0) }
        }
    }

    static func idle(_ socket: Socket) async throws {
        for _ in 0..<500 {
            let info = socket.info
            if !info.inFlight && info.queued == 0 { return }
            try await Task.sleep(for: .milliseconds(10))
        }
        Issue.record("socket did not become idle")
    }
}
