import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// The agents' only way out (`network`): one HTTP request as JSON in, its response as JSON out.
/// A request is performed only if it parses, its URL is http(s) with a host, its body fits
/// `network_max_bytes`, `network_allow` lets its method reach its scheme, host and port, and
/// `network_rate` has room; otherwise the response carries the reason in `error` and nothing
/// is sent. Redirects are not followed (a 3xx is the answer: following one could leave
/// `network_allow`). Every request and its status is told to the socket's memory; every
/// refusal also goes to its `error`.
///
/// Request: `{"request_id": ID, "url": "…", "method": "GET", "headers": {…}, "body": "…",
/// "timeout": SECONDS}` (`request_id` and `url` required). Response: `{"request_id": ID,
/// "status": N, "headers": {…}, "body": "…", "error": null | "reason"}`; a body that is not
/// UTF-8 comes as base64 with `"body_encoding": "base64"`.
enum NetworkGateway {
    /// The client of the gateway: redirects are answered, never followed.
    static let client: HTTPClient = {
        var configuration = HTTPClient.Configuration.singletonConfiguration
        configuration.redirectConfiguration = .disallow
        configuration.timeout.connect = .seconds(10)
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    /// A checked request, ready to send.
    struct Checked: Sendable {
        var id: JSONValue
        var method: String
        var url: String
        var host: String
        var headers: [(String, String)]
        var body: [UInt8]?
        var timeout: Double
    }

    /// Checks a request against the agent's configuration (not the rate); the request or the
    /// response that refuses it (with the request's id when it had one).
    static func check(_ bytes: [UInt8], config: AgentConfig) -> Result<Checked, Refusal> {
        guard let text = String(validating: bytes, as: UTF8.self), let value = try? JSONValue.parse(text),
              case .object(let fields) = value else {
            return .failure(Refusal(id: .null, "the request is not a JSON object"))
        }
        let id = fields["request_id"] ?? .null
        guard fields["request_id"] != nil, id != .null else { return .failure(Refusal(id: .null, "request_id is missing")) }
        guard case .string(let urlText)? = fields["url"] else { return .failure(Refusal(id: id, "url is missing (a string)")) }
        var method = "GET"
        if let given = fields["method"] {
            guard case .string(let text) = given, !text.isEmpty, text.utf8.count <= 16,
                  text.unicodeScalars.allSatisfy({ ("A"..."Z").contains($0) || ("a"..."z").contains($0) }) else {
                return .failure(Refusal(id: id, "method must be a word such as GET or POST"))
            }
            method = text.uppercased()
        }
        guard let url = URLComponents(string: urlText), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
              let host = url.host, !host.isEmpty else {
            return .failure(Refusal(id: id, "url does not parse as http(s)://HOST/…: \(urlText.prefix(200))"))
        }
        var headers: [(String, String)] = []
        if let given = fields["headers"] {
            guard case .object(let pairs) = given else { return .failure(Refusal(id: id, "headers must be an object of strings")) }
            for (name, value) in pairs.sorted(by: { $0.key < $1.key }) {
                guard case .string(let text) = value, !name.isEmpty, !name.contains(where: { $0 == ":" || $0.isNewline }),
                      !text.contains(where: \.isNewline) else {
                    return .failure(Refusal(id: id, "headers must be an object of strings (one line each)"))
                }
                if name.lowercased() != "host" { headers.append((name, text)) }
            }
        }
        var body: [UInt8]?
        if let given = fields["body"], given != .null {
            guard case .string(let text) = given else { return .failure(Refusal(id: id, "body must be a string")) }
            body = Array(text.utf8)
        }
        if let body, body.count > config.networkMaxBytes {
            return .failure(Refusal(id: id, "body of \(body.count) bytes is over network_max_bytes (\(config.networkMaxBytes))"))
        }
        var timeout = config.networkTimeout
        if let given = fields["timeout"] {
            let seconds: Double
            switch given {
            case .int(let value): seconds = Double(value)
            case .double(let value): seconds = value
            default: seconds = 0
            }
            guard seconds > 0 else { return .failure(Refusal(id: id, "timeout must be seconds above 0")) }
            timeout = min(seconds, timeout)
        }
        guard config.networkAllow.contains(where: { $0.allows(method: method, url: url) }) else {
            let allowed = config.networkAllow.isEmpty ? "nothing" : config.networkAllow.map(\.description).joined(separator: ", ")
            return .failure(Refusal(id: id, "refused: \(method) \(scheme)://\(host) is not in network_allow (allowed: \(allowed))"))
        }
        return .success(Checked(id: id, method: method, url: urlText, host: host, headers: headers, body: body, timeout: timeout))
    }

    /// Why a request was not sent, as its response.
    struct Refusal: Error {
        var id: JSONValue
        var reason: String
        init(id: JSONValue, _ reason: String) {
            self.id = id
            self.reason = reason
        }
        var response: [UInt8] { NetworkGateway.response(id: id, status: 0, headers: [:], body: [], error: reason) }
    }

    /// Sends it; the response document (a failure to reach the server is in `error`).
    static func perform(_ checked: Checked, maxBytes: Int) async -> (bytes: [UInt8], status: Int, error: String?) {
        var request = HTTPClientRequest(url: checked.url)
        request.method = HTTPMethod(rawValue: checked.method)
        for (name, value) in checked.headers { request.headers.add(name: name, value: value) }
        if let body = checked.body { request.body = .bytes(ByteBuffer(bytes: body)) }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(checked.timeout * 1000)))
            var body: [UInt8] = []
            var cut = false
            for try await part in response.body {
                let room = maxBytes - body.count
                if part.readableBytes > room {
                    body += part.readableBytesView.prefix(max(0, room))
                    cut = true
                    break
                }
                body += part.readableBytesView
            }
            var headers: [String: String] = [:]
            for (name, value) in response.headers {
                headers[name.lowercased()] = headers[name.lowercased()].map { $0 + ", " + value } ?? value
            }
            let status = Int(response.status.code)
            let error = cut ? "response body cut at network_max_bytes (\(maxBytes))" : nil
            return (Self.response(id: checked.id, status: status, headers: headers, body: body, error: error), status, error)
        } catch {
            let reason = "request failed: \(HTTPModelProvider.describe(error))"
            return (Self.response(id: checked.id, status: 0, headers: [:], body: [], error: reason), 0, reason)
        }
    }

    /// One response document, one line.
    static func response(id: JSONValue, status: Int, headers: [String: String], body: [UInt8], error: String?) -> [UInt8] {
        var fields: [String: JSONValue] = [
            "request_id": id,
            "status": .int(status),
            "headers": .object(headers.mapValues { .string($0) }),
            "error": error.map { .string($0) } ?? .null,
        ]
        if let text = String(validating: body, as: UTF8.self) {
            fields["body"] = .string(text)
        } else {
            fields["body"] = .string(Data(body).base64EncodedString())
            fields["body_encoding"] = .string("base64")
        }
        return Array(JSONValue.object(fields).text.utf8) + [0x0A]
    }
}

/// `network_rate`: at most `count` requests per `period` seconds per agent socket (a token
/// bucket that starts full and refills evenly).
final class NetworkLimiter: Sendable {
    private let buckets = Mutex<[SocketID: (tokens: Double, at: Double)]>([:])

    func admit(_ socket: SocketID, count: Int, period: Double) -> Bool {
        let now = DaemonCounters.monotonicSeconds()
        return buckets.withLock { buckets in
            var bucket = buckets[socket] ?? (Double(count), now)
            bucket.tokens = min(Double(count), bucket.tokens + (now - bucket.at) * Double(count) / period)
            bucket.at = now
            defer { buckets[socket] = bucket }
            guard bucket.tokens >= 1 else { return false }
            bucket.tokens -= 1
            return true
        }
    }
}
