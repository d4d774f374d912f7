import SendenseCore

/// A network share that holds a repository, and the `mount` command line that
/// attaches it. Every field is checked before it reaches a command line: a
/// value that could smuggle in another mount option or argument is refused.
public enum NetworkShare: Equatable, Sendable {
    case nfs(server: String, export: String, options: String?)
    /// `share` is `//server/share[/folder]`. The password never appears on a
    /// command line (where `ps` would show it): it goes through a
    /// credentials file readable only by the hub.
    case cifs(share: String, username: String?, password: String?, options: String?)

    /// Checks every field; returns the share unchanged or the first problem.
    public func validated() throws(RepositoryError) -> NetworkShare {
        switch self {
        case .nfs(let server, let export, let options):
            guard Self.isHost(server) else {
                throw .invalidPath("nfs_server must be a host name or IP address, got \"\(server)\"")
            }
            guard export.isAbsolutePath, Self.isSafePath(export) else {
                throw .invalidPath("nfs_export must be an absolute path on the server such as /exports/backup, got \"\(export)\"")
            }
            try Self.checkOptions(options)
        case .cifs(let share, let username, let password, let options):
            let parts = share.split(separator: "/", omittingEmptySubsequences: false)
            guard share.hasPrefix("//"), parts.count >= 4, Self.isHost(String(parts[2])), !parts[3].isEmpty,
                  Self.isSafePath(share)
            else {
                throw .invalidPath("cifs_share must look like //server/share, got \"\(share)\"")
            }
            if let username, username.isEmpty || !username.allSatisfy({ !$0.isNewline && $0 != "," }) {
                throw .invalidPath("username must not be empty or contain commas or line breaks")
            }
            if let password, password.contains(where: \.isNewline) {
                throw .invalidPath("password must not contain line breaks")
            }
            try Self.checkOptions(options)
            if let options, options.split(separator: ",").contains(where: {
                let key = $0.split(separator: "=").first ?? ""
                return ["credentials", "password", "pass", "username", "user"].contains(key)
            }) {
                throw .invalidPath("mount_options must not carry credentials; use the username and password fields")
            }
        }
        return self
    }

    /// Arguments for `mount` (after the program name).
    /// - Parameter credentialsFile: for CIFS, a file holding `username=` and
    ///   `password=` lines, written by the caller with mode 0600.
    public func mountArguments(mountPoint: String, credentialsFile: String?) -> [String] {
        switch self {
        case .nfs(let server, let export, let options):
            let host = server.contains(":") ? "[\(server)]" : server
            var arguments = ["-t", "nfs", "\(host):\(export)", mountPoint]
            if let options, !options.isEmpty { arguments += ["-o", options] }
            return arguments
        case .cifs(let share, _, _, let options):
            var all: [String] = []
            if let credentialsFile { all.append("credentials=\(credentialsFile)") } else { all.append("guest") }
            if let options, !options.isEmpty { all.append(options) }
            return ["-t", "cifs", share, mountPoint, "-o", all.joined(separator: ",")]
        }
    }

    /// The contents of the CIFS credentials file, nil when there are none.
    public var credentialsFileContents: String? {
        guard case .cifs(_, let username, let password, _) = self, username != nil || password != nil else { return nil }
        var lines: [String] = []
        if let username { lines.append("username=\(username)") }
        if let password { lines.append("password=\(password)") }
        return lines.joined(separator: "\n") + "\n"
    }

    // MARK: field rules

    static func isHost(_ value: String) -> Bool {
        guard !value.isEmpty, value.count <= 253 else { return false }
        return value.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || ".-:".unicodeScalars.contains(scalar))
        } && !value.hasPrefix("-")
    }

    static func isSafePath(_ value: String) -> Bool {
        !value.contains(",") && !value.unicodeScalars.contains { $0.properties.generalCategory == .control }
            && !value.split(separator: "/").contains("..")
    }

    static func checkOptions(_ options: String?) throws(RepositoryError) {
        guard let options, !options.isEmpty else { return }
        let allowed = options.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || "=,._:/-".unicodeScalars.contains(scalar))
        }
        guard allowed, !options.hasPrefix("-") else {
            throw .invalidPath("mount_options may hold only letters, digits and = , . _ : / - (e.g. \"vers=4.1,soft\")")
        }
    }
}
