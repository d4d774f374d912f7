import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// One end of the unix socket between the hub and a file-restore worker,
/// carrying frames: a 4-byte little-endian payload length, a kind byte, the
/// payload. Requests and answers are JSON; file and archive data travel as
/// raw bytes, read straight into the caller's buffer.
///
/// The worker is the side that parses hostile data, so the hub trusts
/// nothing it sends: frames are bounded, kinds checked, JSON decoded into
/// fixed types, and every wait has a deadline.
struct WorkerChannel {
    enum Kind: UInt8 {
        case request = 0, value = 1, data = 2, end = 3, failure = 4
    }

    enum Failure: Error, CustomStringConvertible {
        case closed
        case timedOut
        case malformed(String)
        case system(String, Int32)

        var isClosed: Bool {
            if case .closed = self { true } else { false }
        }

        var description: String {
            switch self {
            case .closed: "the connection closed"
            case .timedOut: "no answer in time"
            case .malformed(let what): "a malformed frame (\(what))"
            case .system(let call, let code): "\(call): \(String(cString: strerror(code)))"
            }
        }
    }

    /// The largest payload accepted: a 10,000-entry listing page is ~2 MB.
    static let maxPayload = 64 << 20
    static let headerSize = 5

    let fd: Int32

    // MARK: sending

    func send(_ kind: Kind, _ payload: UnsafeRawBufferPointer) throws {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        withUnsafeBytes(of: UInt32(payload.count).littleEndian) { header.replaceSubrange(0..<4, with: $0) }
        header[4] = kind.rawValue
        try header.withUnsafeBytes { try sendAll($0) }
        try sendAll(payload)
    }

    func send(_ kind: Kind, _ payload: [UInt8] = []) throws {
        try payload.withUnsafeBytes { try send(kind, $0) }
    }

    func send<Value: Encodable>(_ kind: Kind, json value: Value) throws {
        try send(kind, [UInt8](try JSONEncoder().encode(value)))
    }

    private func sendAll(_ bytes: UnsafeRawBufferPointer) throws {
        var done = 0
        while done < bytes.count {
            // MSG_NOSIGNAL: a dead peer is an error here, not a SIGPIPE for the process.
            let n = Glibc.send(fd, bytes.baseAddress! + done, bytes.count - done, Int32(MSG_NOSIGNAL))
            if n < 0 {
                if errno == EINTR { continue }
                throw errno == EPIPE || errno == ECONNRESET ? Failure.closed : Failure.system("send", errno)
            }
            done += n
        }
    }

    // MARK: receiving

    /// The next frame's kind and payload length; waits until `deadline` (nil: for ever).
    func receiveHeader(until deadline: ContinuousClock.Instant?) throws -> (Kind, Int) {
        var header = [UInt8](repeating: 0, count: Self.headerSize)
        try header.withUnsafeMutableBytes { try receiveAll(into: $0, until: deadline) }
        let length = Int(UInt32(header[0]) | UInt32(header[1]) << 8 | UInt32(header[2]) << 16 | UInt32(header[3]) << 24)
        guard let kind = Kind(rawValue: header[4]) else { throw Failure.malformed("kind \(header[4])") }
        guard length <= Self.maxPayload else { throw Failure.malformed("\(length) bytes") }
        return (kind, length)
    }

    func receivePayload(_ length: Int, until deadline: ContinuousClock.Instant?) throws -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: length)
        try payload.withUnsafeMutableBytes { try receiveAll(into: $0, until: deadline) }
        return payload
    }

    func receiveAll(into buffer: UnsafeMutableRawBufferPointer, until deadline: ContinuousClock.Instant?) throws {
        var done = 0
        while done < buffer.count {
            try wait(until: deadline)
            let n = recv(fd, buffer.baseAddress! + done, buffer.count - done, 0)
            if n == 0 { throw Failure.closed }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                throw errno == ECONNRESET ? Failure.closed : Failure.system("recv", errno)
            }
            done += n
        }
    }

    /// Whether the peer has hung up or sent something unasked: an idle
    /// worker never speaks first, so either means it is gone.
    var peerIsGone: Bool {
        var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&descriptor, 1, 0) != 0
    }

    /// Waits until the socket is readable, or throws `timedOut` at `deadline`.
    private func wait(until deadline: ContinuousClock.Instant?) throws {
        guard let deadline else { return }
        while true {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { throw Failure.timedOut }
            let milliseconds = Int32(min(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1, 60_000))
            var descriptor = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, milliseconds)
            if ready > 0 { return }
            if ready < 0 && errno != EINTR { throw Failure.system("poll", errno) }
        }
    }
}
