/// Where a vCenter (or ESXi host) answers and how its certificate is trusted.
public struct VCenterEndpoint: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var trust: CertificateTrust

    public init(host: String, port: Int = 443, trust: CertificateTrust = .systemRoots) {
        self.host = host
        self.port = port
        self.trust = trust
    }

    public var baseURL: String {
        let name = host.contains(":") && !host.hasPrefix("[") ? "[\(host)]" : host
        return port == 443 ? "https://\(name)" : "https://\(name):\(port)"
    }
}

public enum CertificateTrust: Sendable, Equatable {
    /// The system's CA store and the host name (a CA-issued certificate).
    case systemRoots
    /// Exactly the certificate with this SHA-1 or SHA-256 thumbprint (hex, colons optional), as vSphere shows it.
    case pinned(thumbprint: String)
    /// Any certificate: for labs only.
    case insecure

    /// The thumbprint as uppercase hex without separators, or nil when it is not 40 or 64 hex digits.
    public static func normalized(thumbprint: String) -> String? {
        let hex = thumbprint.uppercased().filter { $0 != ":" && $0 != " " }
        guard hex.count == 40 || hex.count == 64, hex.allSatisfy(\.isHexDigit) else { return nil }
        return hex
    }

    /// `AB:CD:…` in uppercase, as vSphere shows thumbprints, or nil when it is not one.
    public static func displayed(thumbprint: String) -> String? {
        guard let hex = normalized(thumbprint: thumbprint) else { return nil }
        return stride(from: 0, to: hex.count, by: 2).map { offset in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return String(hex[start..<hex.index(start, offsetBy: 2)])
        }.joined(separator: ":")
    }
}

/// What it takes to open a session: where, and as whom.
public struct VCenterLogin: Sendable, Equatable {
    public var endpoint: VCenterEndpoint
    public var username: String
    public var password: String

    public init(endpoint: VCenterEndpoint, username: String, password: String) {
        self.endpoint = endpoint
        self.username = username
        self.password = password
    }
}
