// An SSH server of the test's own on this machine's loopback: "another
// host" for what the hub reaches through SSH (a libvirt host's daemon, and
// QEMU's NBD server on that host's loopback). Its own host key and client
// key; its host key is known to root's ssh (as an admin's would be) only
// while it runs, under its own port.
import Foundation

#if canImport(Glibc)
import Glibc
#endif

public final class SSHLab: Sendable {
    public let port: Int
    /// The private key the hub logs in with.
    public let keyFile: String
    private let knownHostsLine: String
    private let pidFile: String

    static let knownHosts = NSHomeDirectory() + "/.ssh/known_hosts"

    public init() throws {
        let folder = scratchFolder("ssh")
        let hostKey = folder + "/host_key", keyFile = folder + "/client_key"
        for key in [hostKey, keyFile] { _ = try mustRun(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]) }
        port = try Self.freePort()
        self.keyFile = keyFile
        try FileManager.default.copyItem(atPath: keyFile + ".pub", toPath: folder + "/authorized_keys")
        let config = """
            Port \(port)
            ListenAddress 127.0.0.1
            HostKey \(hostKey)
            AuthorizedKeysFile \(folder)/authorized_keys
            PidFile \(folder)/sshd.pid
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            AllowTcpForwarding yes
            AllowStreamLocalForwarding yes
            """
        try config.write(toFile: folder + "/sshd_config", atomically: true, encoding: .utf8)
        // sshd's privilege separation needs this folder (its package makes it at boot).
        try? FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        let hostPublic = try String(contentsOfFile: hostKey + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let line = "[127.0.0.1]:\(port) \(hostPublic)"
        knownHostsLine = line
        try? FileManager.default.createDirectory(atPath: NSHomeDirectory() + "/.ssh", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        try Self.editKnownHosts { $0 + [line] }

        // A daemon (see LibvirtLab.startDaemon); it closes what it inherits, so it never runs as a Foundation Process.
        pidFile = folder + "/sshd.pid"
        try LibvirtLab.startDaemon(["/usr/sbin/sshd", "-E", folder + "/sshd.log", "-f", folder + "/sshd_config"])
        for _ in 0..<100 {
            if (try? tool(["ssh"] + sshArguments + ["true"]))?.status == 0 { return }
            usleep(100_000)
        }
        stop()
        throw LabError("sshd did not accept the test key on 127.0.0.1:\(port) (apt-get install openssh-server)")
    }

    /// ssh's options to log in as root.
    public var sshArguments: [String] {
        ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", keyFile, "-p", String(port), "root@127.0.0.1"]
    }

    /// The libvirt URI of this machine's libvirtd reached through this server.
    public var libvirtURI: String { "qemu+ssh://root@127.0.0.1:\(port)/system?keyfile=\(keyFile)" }

    /// Stops sshd and forgets its host key.
    public func stop() {
        if let text = try? String(contentsOfFile: pidFile, encoding: .utf8), let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
            kill(pid, SIGTERM)
            for _ in 0..<100 where kill(pid, 0) == 0 { usleep(20_000) }
        }
        try? Self.editKnownHosts { $0.filter { $0 != knownHostsLine } }
    }

    private static func editKnownHosts(_ change: ([String]) -> [String]) throws {
        let lines = ((try? String(contentsOfFile: knownHosts, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        try (change(lines).joined(separator: "\n") + "\n").write(toFile: knownHosts, atomically: true, encoding: .utf8)
    }

    /// A TCP port nothing listens on now (the kernel's pick for a socket bound to port 0).
    public static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw LabError("no free TCP port: \(String(cString: strerror(errno)))") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
