import Foundation
import NBD
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A real NBD server process (qemu-nbd, nbdkit, or the hostile test server)
/// serving on a unix socket or loopback port, stopped when the test ends.
final class ServerProcess {
    let process = Process()
    let endpoint: NBDEndpoint

    init(_ arguments: [String], endpoint: NBDEndpoint, waitFor socket: String? = nil, port: Int? = nil) throws {
        self.endpoint = endpoint
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        for _ in 0..<200 {
            if let socket, FileManager.default.fileExists(atPath: socket) { return }
            if let port, Self.canConnect(port: port) { return }
            usleep(25_000)
        }
        throw NBDError.connectFailed("test server \(arguments[0]) did not start")
    }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    static func qemuNBD(image: String, folder: String, format: String = "qcow2", bitmap: String? = nil, readOnly: Bool = true) throws -> ServerProcess {
        let socket = folder + "/qemu-nbd.sock"
        // --shared: a new connection must not race the server's cleanup of the last one.
        var arguments = ["qemu-nbd", "-f", format, "-k", socket, "-x", "disk", "-t", "--shared=8"]
        if readOnly { arguments.append("--read-only") }
        if let bitmap { arguments += ["-B", bitmap] }
        arguments.append(image)
        return try ServerProcess(arguments, endpoint: NBDEndpoint(transport: .unix(path: socket), exportName: "disk"), waitFor: socket)
    }

    static func nbdkitMemory(folder: String, size: String) throws -> ServerProcess {
        let socket = folder + "/nbdkit.sock"
        return try ServerProcess(["nbdkit", "-f", "-U", socket, "memory", size],
                                 endpoint: NBDEndpoint(transport: .unix(path: socket)), waitFor: socket)
    }

    static func hostile(mode: String, folder: String) throws -> ServerProcess {
        let socket = folder + "/hostile.sock"
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/hostile_nbd_server.py"
        return try ServerProcess(["python3", script, socket, mode], endpoint: NBDEndpoint(transport: .unix(path: socket)), waitFor: socket)
    }

    static func canConnect(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
