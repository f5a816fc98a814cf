@testable import AIFSCore
import Foundation
import FuseKit
import Synchronization
import Testing
#if canImport(Glibc)
import Glibc
#endif

// The fakes the in-process tree tests (`Tree*Tests.swift`, fixture in `TreeSupport.swift`) run
// against: a provider whose replies the test releases, and a store that can fail or hold.

/// A provider that holds each request until the test lets it go (model `t/gate`), fails at
/// once (`t/fail`), or holds and then fails (`t/gate-fail`): a reply that stays pending for
/// exactly as long as a test needs, with no clock. A held request ends promptly when its task
/// is cancelled (`cancel`, `reset`, `rmdir`, shutdown).
final class GateProvider: Provider, Sendable {
    private struct State {
        var started = 0
        /// Releases given before the request they are for arrived.
        var permits = 0
        var held: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
        var cancelledEarly: Set<Int> = []
        var startWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var closed = false
    }
    private let state = Mutex(State())

    static let models = ["t/gate", "t/fail", "t/gate-fail"]

    func respond(to request: ProviderRequest, into sink: any ReplySink) async throws {
        let id: Int = state.withLock { s in
            s.started += 1
            let started = s.started
            let ready = s.startWaiters.filter { $0.count <= started }
            s.startWaiters.removeAll { $0.count <= started }
            for waiter in ready { waiter.continuation.resume() }
            return started
        }
        if request.model == "fail" { throw ProviderError("HTTP 500: broken on purpose") }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let outcome: Result<Void, any Error>? = state.withLock { s in
                    if s.closed || s.cancelledEarly.remove(id) != nil { return .failure(CancellationError()) }
                    if s.permits > 0 {
                        s.permits -= 1
                        return .success(())
                    }
                    s.held.append((id, continuation))
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { s in
                if let index = s.held.firstIndex(where: { $0.id == id }) { return s.held.remove(at: index).continuation }
                s.cancelledEarly.insert(id)
                return nil
            }
            continuation?.resume(throwing: CancellationError())
        }
        if request.model == "gate-fail" { throw ProviderError("HTTP 502: failed after the gate") }
        sink.text(Array("gated: ".utf8) + request.latestUserMessage)
    }

    /// Returns once `count` requests have reached the provider (in flight).
    func waitUntilStarted(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.started >= count { return true }
                s.startWaiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    var started: Int { state.withLock { $0.started } }

    /// Lets the oldest held request answer (or the next one to arrive).
    func release() {
        let continuation: CheckedContinuation<Void, any Error>? = state.withLock { s in
            if s.held.isEmpty {
                s.permits += 1
                return nil
            }
            return s.held.removeFirst().continuation
        }
        continuation?.resume()
    }

    /// Ends every held request (the tree is going away); later ones end at once.
    func close() {
        let held = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.closed = true
            defer { s.held = [] }
            return s.held.map(\.continuation)
        }
        for continuation in held { continuation.resume(throwing: CancellationError()) }
    }
}

/// An in-memory store whose message commits and searches can be made to fail or to wait.
final class FaultStore: SocketStore, Sendable {
    enum Commit: Sendable {
        case normal
        case fail(Errno)
        /// Never commits until ``releaseCommits()``.
        case hold
    }
    private struct State {
        var commit = Commit.normal
        var heldCommits: [@Sendable (Errno?) -> Void] = []
        var holdSearches = false
        var heldSearches: [@Sendable () -> Void] = []
        var commitWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
        var searchWaiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let base = InMemoryStore()
    private let state = Mutex(State())

    func setCommit(_ commit: Commit) { state.withLock { $0.commit = commit } }
    func setHoldSearches(_ hold: Bool) { state.withLock { $0.holdSearches = hold } }

    func load() throws -> StoreContents { try base.load() }
    func record(_ events: [StoreEvent]) { base.record(events) }

    func record(_ events: [StoreEvent], done: @escaping @Sendable (Errno?) -> Void) {
        let isMessage = events.contains { if case .messageQueued = $0 { return true } else { return false } }
        guard isMessage else { return base.record(events, done: done) }
        let (commit, ready) = state.withLock { s -> (Commit, [CheckedContinuation<Void, Never>]) in
            if case .hold = s.commit { s.heldCommits.append(done) }
            let count = s.heldCommits.count
            let ready = s.commitWaiters.filter { $0.count <= count }.map(\.continuation)
            s.commitWaiters.removeAll { $0.count <= count }
            return (s.commit, ready)
        }
        for continuation in ready { continuation.resume() }
        switch commit {
        case .normal: base.record(events, done: done)
        case .fail(let error): DispatchQueue.global().async { done(error) }
        case .hold: break
        }
    }

    /// Returns once `count` commits are held.
    func waitForHeldCommits(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.heldCommits.count >= count { return true }
                s.commitWaiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Commits every held message.
    func releaseCommits() {
        let held = state.withLock { s -> [@Sendable (Errno?) -> Void] in
            s.commit = .normal
            defer { s.heldCommits = [] }
            return s.heldCommits
        }
        for done in held { DispatchQueue.global().async { done(nil) } }
    }

    func search(_ query: String, limit: Int, done: @escaping @Sendable (Result<[MemoryHit], MemorySearchError>) -> Void) {
        let answer: @Sendable () -> Void = { done(.success([])) }
        let (held, ready) = state.withLock { s -> (Bool, [CheckedContinuation<Void, Never>]) in
            guard s.holdSearches else { return (false, []) }
            s.heldSearches.append(answer)
            let count = s.heldSearches.count
            let ready = s.searchWaiters.filter { $0.count <= count }.map(\.continuation)
            s.searchWaiters.removeAll { $0.count <= count }
            return (true, ready)
        }
        for continuation in ready { continuation.resume() }
        if !held { DispatchQueue.global().async(execute: answer) }
    }

    /// Returns once `count` searches are held.
    func waitForHeldSearches(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.heldSearches.count >= count { return true }
                s.searchWaiters.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Answers every held search (with no hits).
    func releaseSearches() {
        let held = state.withLock { s -> [@Sendable () -> Void] in
            s.holdSearches = false
            defer { s.heldSearches = [] }
            return s.heldSearches
        }
        for answer in held { DispatchQueue.global().async(execute: answer) }
    }

    /// Lets everything held go (the tree is going away).
    func releaseAll() {
        releaseCommits()
        releaseSearches()
    }

    func close() { base.close() }
    var location: String { "fault store" }
    var statistics: StoreStatistics { base.statistics }
    var supportsSnapshots: Bool { false }
    func snapshotCatalog() throws -> [SnapshotInfo] { [] }
    func readSnapshotFile(state: Int64, _ file: SnapshotFile, done: @escaping @Sendable (Result<[UInt8], SnapshotFailure>) -> Void) {
        base.readSnapshotFile(state: state, file, done: done)
    }
    func loadSockets(_ ids: [SocketID]) throws -> [SocketSnapshot] { [] }
    func snapshotStorageBytes() -> Int? { nil }
}
