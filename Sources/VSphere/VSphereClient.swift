import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// A vim25 SOAP session with one vCenter or ESXi host. Logs in on first
/// use, logs in again (once per call) when vCenter says the session is gone,
/// and keeps the session cookie that the datastore HTTP interface also
/// accepts. `close()` logs out and releases the HTTP client; call it.
public actor VSphereClient {
    nonisolated public let endpoint: VCenterEndpoint
    private let username: String
    private let password: String
    private var http: HTTPClient?
    private var cookie: String?
    private var content: ServiceContent?
    /// How big an answer may be: a 10,000-VM page is far below this.
    private let maxAnswerBytes = 256 << 20
    public private(set) var logins = 0

    public init(endpoint: VCenterEndpoint, username: String, password: String) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
    }

    public init(_ login: VCenterLogin) {
        self.init(endpoint: login.endpoint, username: login.username, password: login.password)
    }

    /// Runs `body` with a client for `login`, always closed afterwards (logout, connections released).
    public static func with<Result: Sendable>(_ login: VCenterLogin, _ body: (VSphereClient) async throws -> Result) async throws -> Result {
        let client = VSphereClient(login)
        do {
            let result = try await body(client)
            await client.close()
            return result
        } catch {
            await client.close()
            throw error
        }
    }

    /// The certificate chain trusted for a pinned endpoint (nil otherwise),
    /// PEM, for helpers (nbdkit) that must trust the same server.
    public private(set) var pinnedChainPEM: String?

    public struct ServiceContent: Sendable {
        public var rootFolder: ManagedObjectReference
        public var propertyCollector: ManagedObjectReference
        public var viewManager: ManagedObjectReference
        public var sessionManager: ManagedObjectReference
        public var apiType: String
        public var apiVersion: String
        public var fullName: String
        public var instanceUuid: String?
    }

    /// Logs in when there is no session yet and answers the service content.
    public func serviceContent() async throws -> ServiceContent {
        if let content, cookie != nil { return content }
        try await login()
        guard let content else { throw VSphereError.badResponse("no service content") }
        return content
    }

    /// `vmware_soap_session=…`, for requests to the datastore interface made by others.
    public func sessionCookie() async throws -> String {
        _ = try await serviceContent()
        guard let cookie else { throw VSphereError.badResponse("vCenter set no session cookie") }
        return cookie
    }

    public func login() async throws {
        let client = try await httpClient()
        cookie = nil
        let answer = try await post(client, method: "RetrieveServiceContent",
                                    this: ManagedObjectReference(type: "ServiceInstance", value: "ServiceInstance"), parameters: "")
        guard let value = answer["returnval"], let root = value["rootFolder"]?.reference,
              let collector = value["propertyCollector"]?.reference, let sessions = value["sessionManager"]?.reference,
              let views = value["viewManager"]?.reference else {
            throw VSphereError.badResponse("RetrieveServiceContent lacks rootFolder, propertyCollector, sessionManager or viewManager")
        }
        let about = value["about"]
        content = ServiceContent(
            rootFolder: root, propertyCollector: collector, viewManager: views, sessionManager: sessions,
            apiType: about?.text("apiType") ?? "", apiVersion: about?.text("apiVersion") ?? "",
            fullName: about?.text("fullName") ?? "", instanceUuid: about?.text("instanceUuid"))
        _ = try await post(client, method: "Login", this: sessions,
                           parameters: SOAP.element("userName", username) + SOAP.element("password", password))
        guard cookie != nil else { throw VSphereError.badResponse("Login set no session cookie") }
        logins += 1
    }

    /// Ends the session and releases the connection pool. The client can log in again afterwards.
    public func close() async {
        if cookie != nil, let content, let http {
            _ = try? await post(http, method: "Logout", this: content.sessionManager, parameters: "")
        }
        cookie = nil
        if let http { try? await http.shutdown() }
        http = nil
    }

    /// Calls a vim25 method on `this`; `parameters` are its XML elements in
    /// schema order. Answers the `…Response` element. A lost session is
    /// re-established once.
    public func invoke(_ method: String, on this: ManagedObjectReference, _ parameters: String = "") async throws -> SOAPElement {
        _ = try await serviceContent()
        let client = try await httpClient()
        do {
            return try await post(client, method: method, this: this, parameters: parameters)
        } catch let error as VSphereError where error.isNotAuthenticated {
            try await login()
            return try await post(client, method: method, this: this, parameters: parameters)
        }
    }

    /// Keeps the session from idling out (vCenter's default is 30 min) while
    /// helpers use its cookie: a cheap call every `interval`, until cancelled.
    public func keepAlive(every interval: Duration) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            guard !Task.isCancelled else { return }
            _ = try? await invoke("CurrentTime", on: ManagedObjectReference(type: "ServiceInstance", value: "ServiceInstance"))
        }
    }

    func httpClient() async throws -> HTTPClient {
        if let http { return http }
        var tls = TLSConfiguration.makeClientConfiguration()
        switch endpoint.trust {
        case .systemRoots:
            break
        case .insecure:
            tls.certificateVerification = .none
        case .pinned(let thumbprint):
            let chain = try await CertificatePin.verifiedChain(host: endpoint.host, port: endpoint.port, thumbprint: thumbprint)
            tls.trustRoots = .certificates(chain)
            tls.certificateVerification = .noHostnameVerification
            pinnedChainPEM = try chain.map { certificate in
                let der = try certificate.toDERBytes()
                let base64 = Data(der).base64EncodedString(options: [.lineLength64Characters, .endLineWithLineFeed])
                return "-----BEGIN CERTIFICATE-----\n\(base64)\n-----END CERTIFICATE-----\n"
            }.joined()
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(15), read: .seconds(600))
        configuration.redirectConfiguration = .disallow
        // A refused certificate or a closed port will not change within the
        // connect timeout: report it now, with its reason, instead of retrying.
        configuration.connectionPool.retryConnectionEstablishment = false
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        http = client
        return client
    }

    private func post(_ client: HTTPClient, method: String, this: ManagedObjectReference, parameters: String) async throws -> SOAPElement {
        var request = HTTPClientRequest(url: endpoint.baseURL + "/sdk")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "text/xml; charset=utf-8")
        request.headers.add(name: "SOAPAction", value: "urn:vim25/6.7")
        if let cookie { request.headers.add(name: "Cookie", value: cookie) }
        request.body = .bytes(ByteBuffer(string: SOAP.envelope(method: method, this: this, parameters: parameters)))
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await client.execute(request, timeout: .seconds(600))
            body = try await response.body.collect(upTo: maxAnswerBytes)
        } catch let error as NIOTooManyBytesError {
            throw VSphereError.badResponse("the answer to \(method) is larger than \(maxAnswerBytes >> 20) MiB: \(error)")
        } catch {
            throw VSphereError.unreachable("\(endpoint.host):\(endpoint.port): \(error)")
        }
        for header in response.headers["Set-Cookie"] {
            if let pair = header.split(separator: ";").first, pair.hasPrefix("vmware_soap_session=") {
                cookie = String(pair)
            }
        }
        let document: SOAPElement
        do {
            document = try SOAPElement.parse(Data(body.readableBytesView))
        } catch {
            throw VSphereError.http(status: Int(response.status.code), message: response.status.reasonPhrase)
        }
        guard let content = document["Body"]?.children.first else {
            throw VSphereError.badResponse("a SOAP answer to \(method) without a body")
        }
        if content.name == "Fault" { throw VSphereError.fault(SOAPFault.parse(content)) }
        guard response.status == .ok else {
            throw VSphereError.http(status: Int(response.status.code), message: response.status.reasonPhrase)
        }
        return content
    }
}

/// Request text: vim25 is picky about element order (XSD sequences), so
/// requests are written by hand in schema order.
enum SOAP {
    static func envelope(method: String, this: ManagedObjectReference, parameters: String) -> String {
        """
        <?xml version="1.0" encoding="UTF-8"?>\
        <soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" \
        xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\
        <soapenv:Body><\(method) xmlns="urn:vim25">\(reference("_this", this))\(parameters)</\(method)></soapenv:Body></soapenv:Envelope>
        """
    }

    static func element(_ name: String, _ text: String) -> String { "<\(name)>\(escape(text))</\(name)>" }

    static func reference(_ name: String, _ ref: ManagedObjectReference) -> String {
        "<\(name) type=\"\(escape(ref.type))\">\(escape(ref.value))</\(name)>"
    }

    static func escape(_ text: String) -> String {
        var result = ""
        result.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}
