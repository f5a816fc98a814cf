import AIFSCore
import Foundation
import FuseKit
import Logging
import ServiceLifecycle
import Synchronization

/// The foreground daemon: builds the filesystem, mounts it, serves until SIGTERM, SIGINT or
/// SIGHUP (``StopSignals``, caught from its first moment) or an outside unmount, then stops
/// cleanly: every parked reader gets `EIO`, the mount is removed, the store closed, the pid file
/// deleted.
struct Daemon {
    let mountpoint: String
    let options: [String]
    let store: StoreChoice
    let configuration: LoadedConfiguration
    let reload: @Sendable () throws -> LoadedConfiguration

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["AIFS_LOG_LEVEL"].flatMap { Logger.Level(rawValue: $0) } ?? .info
            return handler
        }
        let logger = Logger(label: "aifs")
        FuseLog.logger = Logger(label: "aifs.fusekit")
        // A stop asked from now on is kept until the daemon can act on it; the pid file that
        // `aifs unmount` signals exists from now on too, so once `aifs mount` returns, an
        // unmount always finds the daemon and waits for it to close its store.
        StopSignals.install()
        try? RuntimePaths.ensureDirectory()
        let pidFile = RuntimePaths.pidFile(for: mountpoint)
        // Not over a live daemon's (two mounts started at once: the other one answers), and
        // removed at the end only while it names this process.
        let other = RuntimePaths.readPID(for: mountpoint).flatMap { $0 != getpid() && RuntimePaths.isAlive($0) ? $0 : nil }
        if other == nil { try? "\(getpid())\n".write(toFile: pidFile, atomically: true, encoding: .utf8) }
        defer { if RuntimePaths.readPID(for: mountpoint) == getpid() { try? FileManager.default.removeItem(atPath: pidFile) } }

        // With the Redis backend, a replica the trimmed log no longer reaches starts from the
        // namespace's checkpoint (docs/distributed.md).
        if let url = configuration.configuration.redisURL {
            var replica: String?
            if case .database(let options) = store { replica = options.path }
            if let loaded = try CheckpointLoader.prepare(url: url, replicaPath: replica) {
                logger.info("checkpoint loaded", metadata: ["detail": "\(loaded)"])
            }
        }
        let socketStore: any SocketStore
        switch store {
        case .memory: socketStore = InMemoryStore()
        case .database(let options): socketStore = try SQLiteStore(options: options)
        }
        // What a tool or an exec program leaves behind is reparented here and reaped, not left
        // to a PID 1 that may never reap (a container's).
        ToolRunner.adoptOrphans()
        let contents = try socketStore.load()
        logger.info("store opened", metadata: ["store": "\(socketStore.location)", "sockets": "\(contents.sockets.count)"])
        for warning in configuration.warnings { logger.warning("\(warning)") }
        let catalog = ModelCatalog.from(configuration.configuration)
        let environment = SocketEnvironment(store: socketStore, catalog: catalog)
        environment.apply(configuration, catalog: catalog)
        environment.setReloader(reload)
        // Where changes go: applied at once, or with the Redis backend through the shared log
        // (docs/distributed.md), from where this daemon's replica stopped.
        let log = try makeChangeLog(redisURL: configuration.configuration.redisURL, position: contents.clusterPosition,
                                    settings: configuration.configuration.cluster)
        log.announce(version: AIFSCommand.version, mountpoint: mountpoint)
        log.useCheckpoints(from: socketStore)
        environment.use(log: log)
        if let description = log.joinDescription { logger.info("joining the shared namespace", metadata: ["log": "\(description)"]) }
        let registry = SocketRegistry(environment: environment, restoring: contents)
        let fileSystem = AIFileSystem(registry: registry,
                                      identity: DaemonIdentity(version: AIFSCommand.version, mountpoint: mountpoint,
                                                                multiUser: options.contains("allow_other")))
        // `[metrics] listen`: bound before the mount, so an address in use fails the mount with
        // the reason (the daemon exits; `aifs mount` shows its last log lines).
        var metricsListener: MetricsListener?
        if let address = configuration.configuration.metricsListen {
            let listener = try await MetricsListener.start(address) { [fileSystem] in fileSystem.metricsText() }
            fileSystem.setMetricsEndpoint(listener.address)
            logger.info("serving metrics", metadata: ["url": "http://\(listener.address)/metrics"])
            metricsListener = listener
        }
        // A socket's `input` and `ctl` act on each write as it happens: no write-back cache
        // (which would merge and delay writes) and no splice.
        StopSignals.mounting()
        let session = try FuseSession(mountpoint: mountpoint, options: options,
                                      capabilities: .init(writebackCache: false, splice: false),
                                      fileSystem: fileSystem)
        fileSystem.setInvalidator(session)
        session.start()
        // Agent sockets' programs start once the mount they are bound into answers.
        let homes: String
        if case .database(let options) = store {
            homes = URL(fileURLWithPath: options.path).deletingLastPathComponent().path + "/agents"
        } else {
            homes = NSTemporaryDirectory() + "aifs-agents-\(getpid())"
        }
        environment.agents.activate(mountpoint: mountpoint, homes: homes, sockets: registry.all())
        fileSystem.snapshots.startAutomatic()
        log.start { position in socketStore.record([.clusterPosition(position)]) }
        // With the Redis backend, /ai/events is shared on the channel aifs:events too.
        let eventChannel = configuration.configuration.redisURL.map { RedisEventChannel(url: $0, events: environment.events) }
        eventChannel?.start()

        logger.info("mounted", metadata: ["mountpoint": "\(mountpoint)", "pid": "\(getpid())"])

        let service = MountService(session: session)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
            logger: logger))
        StopSignals.onFirst { Task { await group.triggerGracefulShutdown() } }
        try await group.run()
        await metricsListener?.stop()
        await MountService.onThread {
            eventChannel?.stop()
            log.stop()
        }
        // Everything recorded before the stop is written before the process ends.
        await MountService.onThread { socketStore.close() }
        logger.info("unmounted", metadata: ["mountpoint": "\(mountpoint)"])
    }
}

/// Which store the daemon runs with.
enum StoreChoice {
    /// Nothing kept beyond the process (`--store memory`).
    case memory
    case database(StoreOptions)
}

/// Waits for the FUSE loop to end; on graceful shutdown stops the session first. The blocking
/// waits run on their own threads, never on Swift's cooperative pool.
struct MountService: Service {
    let session: FuseSession

    func run() async throws {
        // One stop, waited for by every path: `FuseSession.stop()` returns at once to a second
        // caller while the first is still unmounting, and the process ended in between after a
        // SIGTERM on a busy machine (the mount was left stale, readers got ECONNABORTED).
        let stop = StopOnce { session.stop() }
        await withGracefulShutdownHandler {
            await Self.onThread { session.waitUntilLoopEnds() }
        } onGracefulShutdown: {
            stop.begin()
        }
        // The loop ended (signal or an outside unmount): finish the stop.
        await stop.finished()
    }

    static func onThread(_ body: @escaping @Sendable () -> Void) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread {
                body()
                continuation.resume()
            }.start()
        }
    }
}

/// Runs `body` once, on a thread of its own, however many times it is begun; every caller of
/// ``finished()`` waits until it has returned.
final class StopOnce: Sendable {
    private let state = Mutex<(started: Bool, done: Bool, waiting: [CheckedContinuation<Void, Never>])>((false, false, []))
    private let body: @Sendable () -> Void

    init(_ body: @escaping @Sendable () -> Void) { self.body = body }

    func begin() {
        guard state.withLock({ s in defer { s.started = true }; return !s.started }) else { return }
        Thread { [self] in
            body()
            let waiting = state.withLock { s in
                s.done = true
                defer { s.waiting = [] }
                return s.waiting
            }
            for continuation in waiting { continuation.resume() }
        }.start()
    }

    func finished() async {
        begin()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { s in
                if !s.done { s.waiting.append(continuation) }
                return s.done
            }
            if done { continuation.resume() }
        }
    }
}
