import Foundation
import Logging
import RedisKit
import Synchronization

/// `/ai/events` across the daemons of a Redis namespace, on the channel `aifs:events`.
///
/// - **Publishing**: every event this daemon records first (``EventLog/record(_:fromLog:publish:)``:
///   what it observed alone, and what it derived from a change it posted itself) is `PUBLISH`ed
///   as its JSON line, one message each, from a thread of its own (pipelined, up to 64 a round
///   trip), so `redis-cli SUBSCRIBE aifs:events` sees each event of the namespace once.
/// - **Subscribing**: events derived from the shared log (`"from_log": true`) every daemon
///   derives itself, in log order, so a daemon takes from the channel only the other daemons'
///   `"from_log": false` events (an error a handler reported there, a reload, a takeover, a
///   daemon joining or leaving) into its own `/ai/events`. No event appears twice.
///
/// Pub/sub does not keep messages: while Redis is unreachable, what is published is dropped
/// (with a log line) and what others publish is missed; the log-derived events are not (they
/// come with the log). At most ``maxQueued`` lines wait to be published.
public final class RedisEventChannel: Sendable {
    public static let channel = "aifs:events"
    static let maxQueued = 10_000
    private let url: String
    private let events: EventLog
    private let logger = Logger(label: "aifs.events")
    private struct State {
        var queue: [[UInt8]] = []
        var stopped = false
        var subscriber: Int32?
        var dropped = 0
    }
    private let state = Mutex(State())
    private let signal = NSCondition()

    public init(url: String, events: EventLog) {
        self.url = url
        self.events = events
    }

    /// Starts publishing and subscribing; says this daemon joined.
    public func start() {
        events.setPublisher { [self] line in enqueue(line) }
        Thread { [self] in publishLoop() }.start()
        Thread { [self] in subscribeLoop() }.start()
        events.record(AIEvent("daemon_joined", uid: events.daemonUID, [("url", .string(url))]), fromLog: false, publish: true)
    }

    /// Says this daemon leaves, publishes what waits (for a moment at most), and stops.
    public func stop() {
        events.record(AIEvent("daemon_left", uid: events.daemonUID), fromLog: false, publish: true)
        let deadline = Date().addingTimeInterval(1)
        while Date() < deadline, state.withLock({ !$0.queue.isEmpty }) { usleep(10_000) }
        let subscriber = state.withLock { s -> Int32? in
            s.stopped = true
            return s.subscriber
        }
        events.setPublisher(nil)
        signal.lock(); signal.broadcast(); signal.unlock()
        if let subscriber { RedisConnection.interrupt(descriptor: subscriber) }
    }

    private func enqueue(_ line: [UInt8]) {
        let accepted = state.withLock { s -> Bool in
            guard !s.stopped, s.queue.count < Self.maxQueued else { s.dropped += 1; return false }
            s.queue.append(line)
            return true
        }
        guard accepted else { return }
        signal.lock(); signal.signal(); signal.unlock()
    }

    private func publishLoop() {
        guard let connection = try? RedisConnection(url: url) else { return }
        while true {
            signal.lock()
            while state.withLock({ $0.queue.isEmpty && !$0.stopped }) { signal.wait() }
            signal.unlock()
            let batch = state.withLock { s -> [[UInt8]] in
                let batch = Array(s.queue.prefix(64))
                s.queue.removeFirst(batch.count)
                return batch
            }
            if batch.isEmpty { return }  // stopped
            let commands = batch.map { [Array("PUBLISH".utf8), Array(Self.channel.utf8), Array($0.dropLast())] }
            do {
                _ = try connection.pipeline(commands)
            } catch {
                logger.warning("events not published (\(batch.count)): \(error)")
                usleep(200_000)
            }
        }
    }

    private func subscribeLoop() {
        guard let connection = try? RedisConnection(url: url) else { return }
        let me = events.daemon
        while !state.withLock({ $0.stopped }) {
            do {
                _ = try connection.command(["SUBSCRIBE", Self.channel])
                state.withLock { $0.subscriber = connection.descriptor }
                if state.withLock({ $0.stopped }) { return }
                while true {
                    let message = try connection.receive(readTimeout: 0)
                    guard let parts = message.array, parts.count == 3, parts[0].string == "message",
                          let line = parts[2].bytes else { continue }
                    take(line, me: me)
                }
            } catch {
                if state.withLock({ $0.stopped }) { return }
                logger.warning("events channel: \(error)")
                usleep(500_000)
            }
        }
    }

    /// Another daemon's event, unless this daemon has it from the log already.
    func take(_ line: [UInt8], me: String) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
              let daemon = object["daemon"] as? String, daemon != me,
              object["from_log"] as? Bool == false, let id = object["id"] as? Int else { return }
        var audience: EventAudience?
        if let owner = object["owner"] as? Int, let group = object["group"] as? Int,
           let mode = (object["mode"] as? String).flatMap({ UInt32($0, radix: 8) }) {
            audience = EventAudience(uid: UInt32(clamping: owner), gid: UInt32(clamping: group), mode: mode)
        } else if !(object["socket"] is NSNull) {
            return  // a socket's event without its owner: shown to nobody rather than to everyone
        }
        events.insertRemote(line, audience: audience, time: Double(id) / 1_000_000)
    }
}
