import AsyncHTTPClient
import NIOCore
import Synchronization

/// The HTTP clients every HTTP provider shares: one per connect timeout, made on first use and
/// kept for the life of the daemon, on AsyncHTTPClient's default event loops.
///
/// Each has AsyncHTTPClient's `shared` settings with room for one connection per socket:
/// `HTTPClient.shared` keeps at most 8 HTTP/1 connections per host and queues every other
/// request inside the client, so 200 sockets on one local server (Ollama, vLLM, llama.cpp)
/// answered 8 at a time, and the wait in that queue counted against the idle timeout. A socket
/// has one request in flight at most, so the connections to a host never outnumber the sockets.
///
/// The connect timeout is the provider's idle timeout: while a server cannot be reached (down,
/// restarting), the client keeps trying to connect for that long, then fails the request with
/// the last reason (`connection refused`), which `RetryPolicy` retries and reports in `error`.
enum SharedHTTPClients {
    private static let clients = Mutex<[Int64: HTTPClient]>([:])

    /// The client whose connect timeout is `seconds`, rounded to the millisecond.
    static func client(connectTimeout seconds: Double) -> HTTPClient {
        let milliseconds = max(1, Int64((seconds * 1000).rounded()))
        return clients.withLock { clients in
            if let client = clients[milliseconds] { return client }
            var configuration = HTTPClient.Configuration.singletonConfiguration
            configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 10_000
            configuration.timeout.connect = .milliseconds(milliseconds)
            let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
            clients[milliseconds] = client
            return client
        }
    }
}
