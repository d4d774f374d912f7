import Foundation
import SendenseCore

/// Where a libvirt daemon is, as the hub accepts it: this machine's
/// `qemu:///system` or `qemu:///session`, or another host's through SSH,
/// `qemu+ssh://[user@]host[:port]/system`, with only the parameters that
/// choose how ssh authenticates (`keyfile`, `no_verify`). Like virsh, the
/// hub's ssh knows hosts by the hub user's `~/.ssh/known_hosts`.
/// Every other transport and parameter is refused: libvirt's ssh transport
/// also takes the programs it runs (`command`, `netcat`), and a host or user
/// starting with `-` would be read by ssh as an option.
public struct LibvirtURI: Sendable, Equatable, CustomStringConvertible {
    public static let local = ["qemu:///system", "qemu:///session"]

    /// How ssh reaches a remote host: the same for libvirt's connection and the hub's NBD tunnel.
    public struct SSH: Sendable, Equatable {
        public var user: String?
        public var host: String
        public var port: Int?
        /// The private key, when not the hub user's default one.
        public var keyFile: String?
        /// `no_verify=1`: the host key is not checked (a lab, never production).
        public var verifyHostKey: Bool

        /// ssh's options and destination, for `ssh ARGS… COMMAND` or `ssh -N -L … ARGS…`.
        public var arguments: [String] {
            // Never a password prompt (a hub has no terminal); a dead host ends the tunnel.
            var arguments = ["-o", "BatchMode=yes", "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
            if let port { arguments += ["-p", String(port)] }
            if let keyFile { arguments += ["-i", keyFile, "-o", "IdentitiesOnly=yes"] }
            if !verifyHostKey { arguments += ["-o", "StrictHostKeyChecking=no"] }
            return arguments + ["--", user.map { "\($0)@\(host)" } ?? host]
        }
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    /// As given (what the catalog keeps).
    public let text: String
    /// nil: a daemon on this machine.
    public let ssh: SSH?

    public var description: String { text }

    /// What libvirt opens: ssh must never wait for a password nobody types.
    public var connectionText: String {
        guard ssh != nil, !text.contains("no_tty=") else { return text }
        return text + (text.contains("?") ? "&" : "?") + "no_tty=1"
    }

    public init(_ text: String) throws {
        self.text = text
        if Self.local.contains(text) {
            ssh = nil
            return
        }
        func invalid(_ why: String) -> Invalid {
            Invalid(description: "uri must be \(Self.local.joined(separator: ", ")) or qemu+ssh://[user@]host[:port]/system: \(why)")
        }
        guard let url = URLComponents(string: text), url.scheme == "qemu+ssh" else { throw invalid("\(text) is neither") }
        guard let host = url.host, !host.isEmpty, host.first != "-",
              host.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || ".-:".contains($0)) }) else {
            throw invalid("the host must be a name or an address")
        }
        if let user = url.user {
            guard user.first != "-", !user.isEmpty, user.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                throw invalid("the user must be a plain account name")
            }
        }
        guard url.password == nil else { throw invalid("no password in the URI: the hub logs in with an SSH key") }
        guard url.path == "/system" else { throw invalid("the path must be /system") }
        guard url.fragment == nil else { throw invalid("no fragment") }
        var ssh = SSH(user: url.user, host: host, port: url.port, keyFile: nil, verifyHostKey: true)
        if let port = url.port, !(1...65535).contains(port) { throw invalid("the port must be 1 to 65535") }
        for item in url.queryItems ?? [] {
            let value = item.value ?? ""
            switch item.name {
            case "keyfile":
                guard value.isAbsolutePath, !value.utf8.contains(0) else { throw invalid("keyfile must be an absolute path on the hub") }
                ssh.keyFile = value
            case "no_verify":
                guard ["0", "1"].contains(value) else { throw invalid("no_verify is 0 or 1") }
                ssh.verifyHostKey = value == "0"
            default:
                throw invalid("parameter \(item.name) is not accepted (only keyfile and no_verify)")
            }
        }
        self.ssh = ssh
    }
}
