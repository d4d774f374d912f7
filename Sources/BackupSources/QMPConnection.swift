import Foundation
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// A QEMU Machine Protocol session on a QEMU's unix socket: one JSON object
/// per line each way, the greeting and `qmp_capabilities` done at open,
/// events skipped. Commands go one at a time; every read waits at most
/// `timeout` (a hung QEMU fails the backup, it does not hang it). Blocking
/// socket I/O, so every call runs on the blocking pool.
public final class QMPConnection: @unchecked Sendable {
    public struct Failure: Error, CustomStringConvertible, Sendable {
        public var command: String
        /// QMP's error class (`GenericError`, `DeviceNotFound`), or `io` when the socket failed.
        public var errorClass: String
        public var message: String
        public var description: String { "QMP \(command): \(message)" }
    }

    /// Who runs the QEMU (SO_PEERCRED): files it must open go in a folder it owns.
    public let peer: (pid: Int32, uid: UInt32, gid: UInt32)
    private let fd: Int32
    private let lock = NSLock()
    private var buffer = Data()

    /// Who answers, in messages: QEMU or the guest agent.
    private let peerName: String

    private init(fd: Int32, peer: (pid: Int32, uid: UInt32, gid: UInt32), peerName: String) {
        self.fd = fd
        self.peer = peer
        self.peerName = peerName
    }

    deinit { close(fd) }

    public static func open(_ path: String, timeout: Duration = .seconds(30)) async throws -> QMPConnection {
        try await BlockingPool.shared.run {
            let connection = try connect(path, timeout: timeout, peerName: "QEMU")
            do {
                _ = try connection.readMessage(for: "greeting")
            } catch let failure as Failure where failure.errorClass == "io" {
                throw Failure(command: "greeting", errorClass: "io",
                              message: "\(failure.message) at \(path) (a QMP socket serves one client at a time: is another one connected?)")
            }
            _ = try connection.executeNow("qmp_capabilities", arguments: nil)
            return connection
        }
    }

    /// The host end of a QEMU guest agent's channel: the agent speaks the
    /// same protocol, with no greeting. A guest without a running agent
    /// fails within `timeout`.
    public static func openGuestAgent(_ path: String, timeout: Duration = .seconds(5)) async throws -> QMPConnection {
        try await BlockingPool.shared.run {
            let connection = try connect(path, timeout: timeout, peerName: "the guest agent")
            try connection.synchronizeNow()
            return connection
        }
    }

    /// Flushes what an earlier command or client left half-sent or
    /// unanswered on a guest agent's channel: a 0xFF byte resets the agent's
    /// parser, and `guest-sync-delimited` answers our id behind a 0xFF byte,
    /// so everything before it is skipped.
    public func synchronize() async throws {
        try await BlockingPool.shared.run { [self] in try synchronizeNow() }
    }

    private func synchronizeNow() throws {
        lock.lock()
        defer { lock.unlock() }
        let command = "guest-sync-delimited"
        let id = Int.random(in: 1..<Int(Int32.max))
        try send(Data([0xFF]) + Data("{\"execute\":\"\(command)\",\"arguments\":{\"id\":\(id)}}\n".utf8), for: command)
        while true {
            try skip(through: 0xFF, for: command)
            if let answer = try? readMessage(for: command), answer["return"] as? Int == id { return }
        }
    }

    private static func connect(_ path: String, timeout: Duration, peerName: String) throws -> QMPConnection {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Failure(command: "connect", errorClass: "io", message: String(cString: strerror(errno))) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard path.utf8.count < capacity else {
            close(fd)
            throw Failure(command: "connect", errorClass: "io", message: "socket path too long: \(path)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: path.utf8)
            raw[path.utf8.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw Failure(command: "connect", errorClass: "io", message: "\(path): \(reason)")
        }
        // struct ucred {pid_t, uid_t, gid_t}: Glibc's Swift module hides it (it is _GNU_SOURCE).
        var credentials: (pid: Int32, uid: UInt32, gid: UInt32) = (0, 0, 0)
        var length = socklen_t(MemoryLayout.size(ofValue: credentials))
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length)
        let connection = QMPConnection(fd: fd, peer: credentials, peerName: peerName)
        connection.setTimeout(timeout)
        return connection
    }

    /// How long each later read or write may wait.
    public func setTimeout(_ timeout: Duration) {
        var wait = timeval(tv_sec: Int(timeout.components.seconds), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Runs `command`; answers its `return` value as JSON data.
    @discardableResult
    public func execute(_ command: String, _ arguments: [String: Any]? = nil) async throws -> Data {
        let encoded = try arguments.map { try JSONSerialization.data(withJSONObject: $0) }
        return try await BlockingPool.shared.run { [self] in try executeNow(command, arguments: encoded) }
    }

    /// `execute`, its answer decoded.
    public func execute<Answer: Decodable>(_ command: String, _ arguments: [String: Any]? = nil, as type: Answer.Type) async throws -> Answer {
        try JSONDecoder().decode(Answer.self, from: try await execute(command, arguments))
    }

    private func executeNow(_ command: String, arguments: Data?) throws -> Data {
        lock.lock()
        defer { lock.unlock() }
        var line = Data("{\"execute\":".utf8) + (try JSONSerialization.data(withJSONObject: command, options: .fragmentsAllowed))
        if let arguments { line += Data(",\"arguments\":".utf8) + arguments }
        line += Data("}\n".utf8)
        try send(line, for: command)
        while true {
            let message = try readMessage(for: command)
            if message["event"] != nil { continue }
            if let error = message["error"] as? [String: Any] {
                throw Failure(command: command, errorClass: error["class"] as? String ?? "", message: error["desc"] as? String ?? "\(error)")
            }
            return try JSONSerialization.data(withJSONObject: message["return"] ?? [String: Any](), options: .fragmentsAllowed)
        }
    }

    private func send(_ data: Data, for command: String) throws {
        try data.withUnsafeBytes { bytes in
            var sent = 0
            while sent < bytes.count {
                let count = Glibc.send(fd, bytes.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL))
                guard count > 0 else { throw Failure(command: command, errorClass: "io", message: String(cString: strerror(errno))) }
                sent += count
            }
        }
    }

    /// Drops what was received up to and including the first `byte`.
    private func skip(through byte: UInt8, for command: String) throws {
        while true {
            if let found = buffer.firstIndex(of: byte) {
                buffer.removeSubrange(buffer.startIndex...found)
                return
            }
            buffer.removeAll()
            try receive(for: command)
        }
    }

    /// The next JSON object the peer sends (a reply, an event, the greeting).
    private func readMessage(for command: String) throws -> [String: Any] {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = buffer[buffer.startIndex..<newline]
                buffer.removeSubrange(buffer.startIndex...newline)
                guard let object = try? JSONSerialization.jsonObject(with: line) as? [String: Any] else {
                    throw Failure(command: command, errorClass: "io", message: "\(peerName) sent something that is not a QMP message")
                }
                return object
            }
            guard buffer.count < 64 << 20 else { throw Failure(command: command, errorClass: "io", message: "QMP message over 64 MiB") }
            try receive(for: command)
        }
    }

    private func receive(for command: String) throws {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let count = recv(fd, &chunk, chunk.count, 0)
        guard count > 0 else {
            let reason = count == 0 ? "\(peerName) closed the connection" : errno == EAGAIN ? "\(peerName) did not answer in time" : String(cString: strerror(errno))
            throw Failure(command: command, errorClass: "io", message: reason)
        }
        buffer.append(contentsOf: chunk[0..<count])
    }
}
