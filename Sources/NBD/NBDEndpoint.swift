import Foundation
import SendenseCore

/// Where an NBD export is: `nbd://host[:port]/export` or
/// `nbd+unix:///export?socket=/path/to.sock`.
public struct NBDEndpoint: Equatable, Sendable, CustomStringConvertible {
    public enum Transport: Equatable, Sendable {
        case tcp(host: String, port: Int)
        case unix(path: String)
    }

    public var transport: Transport
    public var exportName: String

    public init(transport: Transport, exportName: String = "") {
        self.transport = transport
        self.exportName = exportName
    }

    public init(uri: String) throws(NBDError) {
        guard let components = URLComponents(string: uri), let scheme = components.scheme else {
            throw .invalidEndpoint("'\(uri)' is not a URI")
        }
        let export = String(components.percentEncodedPath.drop(while: { $0 == "/" })).removingPercentEncoding ?? ""
        switch scheme {
        case "nbd":
            guard let host = components.host, !host.isEmpty else { throw .invalidEndpoint("'\(uri)' names no host") }
            let port = components.port ?? 10809
            guard (1...65535).contains(port) else { throw .invalidEndpoint("port \(port) is out of range") }
            self.init(transport: .tcp(host: host, port: port), exportName: export)
        case "nbd+unix":
            guard let socket = components.queryItems?.first(where: { $0.name == "socket" })?.value, socket.isAbsolutePath else {
                throw .invalidEndpoint("'\(uri)' needs ?socket=/absolute/path")
            }
            self.init(transport: .unix(path: socket), exportName: export)
        default:
            throw .invalidEndpoint("scheme '\(scheme)' is not nbd or nbd+unix")
        }
        guard exportName.utf8.count <= 4096 else { throw .invalidEndpoint("export name longer than 4096 bytes") }
    }

    public var description: String {
        switch transport {
        case .tcp(let host, let port): "nbd://\(host):\(port)/\(exportName)"
        case .unix(let path): "nbd+unix:///\(exportName)?socket=\(path)"
        }
    }
}
