import NIOCore

/// One negotiated NBD connection. Commands may be issued from many tasks at
/// once: each gets its own cookie and they are all in flight together; the
/// replies, in whatever order the server sends them, are matched by cookie.
public actor NBDConnection {
    public nonisolated let info: NBDExportInfo
    private let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    private var pending: [UInt64: Pending] = [:]
    private var nextCookie: UInt64 = 1
    private var failure: NBDError?

    /// What the receiver needs to know to check and parse a reply.
    struct Request: Sendable {
        var command: NBDProtocol.Command
        var offset: UInt64
        var length: UInt32
        var contextID: UInt32?
    }

    enum Completion: Sendable {
        case done
        case data(ByteBuffer)
        case extents([NBDExtent])
    }

    private struct Pending {
        var request: Request
        var continuation: CheckedContinuation<Completion, any Error>?
        var result: Result<Completion, any Error>?
        var data: ByteBuffer?
        var covered: UInt64 = 0
        var extents: [NBDExtent] = []
        var error: NBDError?
    }

    init(info: NBDExportInfo, outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>) {
        self.info = info
        self.outbound = outbound
    }

    // MARK: commands

    /// Reads `length` bytes at `offset` (at most `info.maximumBlockSize`).
    public func read(offset: UInt64, length: Int) async throws -> ByteBuffer {
        guard case .data(let data) = try await submit(.read, offset: offset, length: length) else {
            throw NBDError.protocolViolation("a read completed without data")
        }
        return data
    }

    public func write(offset: UInt64, data: ByteBuffer, fua: Bool = false) async throws {
        guard !info.isReadOnly else { throw NBDError.invalidRequest("the export is read-only") }
        _ = try await submit(.write, offset: offset, length: data.readableBytes, flags: fua ? NBDProtocol.CommandFlag.fua : 0, payload: data)
    }

    /// Makes a range read as zeros; `allowTrim` lets the server deallocate it.
    public func writeZeroes(offset: UInt64, length: Int, allowTrim: Bool = true) async throws {
        guard info.canWriteZeroes else { throw NBDError.invalidRequest("the export does not support WRITE_ZEROES") }
        _ = try await submit(.writeZeroes, offset: offset, length: length, flags: allowTrim ? 0 : NBDProtocol.CommandFlag.noHole)
    }

    public func trim(offset: UInt64, length: Int) async throws {
        guard info.canTrim else { throw NBDError.invalidRequest("the export does not support TRIM") }
        _ = try await submit(.trim, offset: offset, length: length)
    }

    public func flush() async throws {
        guard info.canFlush else { return }
        _ = try await submit(.flush, offset: 0, length: 0)
    }

    /// Block status of `[offset, offset + length)` in a negotiated meta
    /// context. The answer starts at `offset` and may cover less than asked.
    public func blockStatus(offset: UInt64, length: Int, context: String) async throws -> [NBDExtent] {
        guard let id = info.metaContexts[context] else {
            throw NBDError.invalidRequest("meta context \(context) was not negotiated")
        }
        guard case .extents(let extents) = try await submit(.blockStatus, offset: offset, length: length, contextID: id) else {
            throw NBDError.protocolViolation("block status completed without extents")
        }
        return extents
    }

    /// Tells the server we are done. No reply comes; the server closes.
    func disconnect() async {
        guard failure == nil else { return }
        failure = .connectionClosed
        try? await outbound.write(Self.header(.disconnect, flags: 0, cookie: 0, offset: 0, length: 0))
    }

    private func submit(
        _ command: NBDProtocol.Command, offset: UInt64, length: Int, flags: UInt16 = 0,
        payload: ByteBuffer? = nil, contextID: UInt32? = nil
    ) async throws -> Completion {
        if let failure { throw failure }
        guard length >= 0, length <= Int(info.maximumBlockSize) || command == .trim || command == .writeZeroes || command == .blockStatus,
              length <= Int(UInt32.max)
        else {
            throw NBDError.invalidRequest("a \(command) of \(length) bytes exceeds the server's limit of \(info.maximumBlockSize)")
        }
        guard offset <= info.size, UInt64(length) <= info.size - offset else {
            throw NBDError.invalidRequest("\(command) of \(length) bytes at \(offset) is past the end of the export (\(info.size) bytes)")
        }
        let cookie = nextCookie
        nextCookie += 1
        pending[cookie] = Pending(request: Request(command: command, offset: offset, length: UInt32(length), contextID: contextID))
        let header = Self.header(command, flags: flags, cookie: cookie, offset: offset, length: UInt32(length))
        do {
            // One call for header and payload, so concurrent writers never interleave.
            if let payload {
                try await outbound.write(contentsOf: [header, payload])
            } else {
                try await outbound.write(header)
            }
        } catch {
            pending[cookie] = nil
            throw NBDError.connectionClosed
        }
        return try await withCheckedThrowingContinuation { continuation in
            if let result = pending[cookie]?.result {
                pending[cookie] = nil
                continuation.resume(with: result)
            } else if pending[cookie] != nil {
                pending[cookie]?.continuation = continuation
            } else {
                continuation.resume(throwing: failure ?? NBDError.connectionClosed)
            }
        }
    }

    private static func header(_ command: NBDProtocol.Command, flags: UInt16, cookie: UInt64, offset: UInt64, length: UInt32) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(28)
        buffer.writeInteger(NBDProtocol.requestMagic)
        buffer.writeInteger(flags)
        buffer.writeInteger(command.rawValue)
        buffer.writeInteger(cookie)
        buffer.writeInteger(offset)
        buffer.writeInteger(length)
        return buffer
    }

    // MARK: called by the reply receiver

    func request(for cookie: UInt64) -> Request? { pending[cookie]?.request }

    /// A whole simple reply, or the last chunk of a structured one.
    func complete(_ cookie: UInt64, error: NBDError?, data: ByteBuffer? = nil) {
        guard var entry = pending[cookie] else { return }
        let result: Result<Completion, any Error>
        if let error = error ?? entry.error {
            result = .failure(error)
        } else {
            switch entry.request.command {
            case .read:
                if let data {
                    result = .success(.data(data))
                } else if entry.covered == UInt64(entry.request.length) {
                    result = .success(.data(entry.data ?? ByteBuffer(repeating: 0, count: Int(entry.request.length))))
                } else {
                    let violation = NBDError.protocolViolation("a read reply covered \(entry.covered) of \(entry.request.length) bytes")
                    fail(violation)
                    return
                }
            case .blockStatus:
                guard !entry.extents.isEmpty else {
                    fail(NBDError.protocolViolation("block status reply without extents"))
                    return
                }
                result = .success(.extents(entry.extents))
            default:
                result = .success(.done)
            }
        }
        if let continuation = entry.continuation {
            pending[cookie] = nil
            continuation.resume(with: result)
        } else {
            entry.result = result
            pending[cookie] = entry
        }
    }

    /// Part of a structured read reply: data at `offset`, or a hole.
    func deliverRead(_ cookie: UInt64, offset: UInt64, data: ByteBuffer?, holeLength: UInt32) throws {
        guard var entry = pending[cookie] else { return }
        let request = entry.request
        let length = UInt64(data?.readableBytes ?? Int(holeLength))
        // Subtractions only: a hostile offset near 2^64 must not overflow (a trap).
        guard offset >= request.offset, length <= UInt64(request.length), offset - request.offset <= UInt64(request.length) - length else {
            throw NBDError.protocolViolation("a read chunk at \(offset)+\(length) lies outside the request \(request.offset)+\(request.length)")
        }
        if let data, offset == request.offset, length == UInt64(request.length) {
            entry.data = data  // the common case: one chunk, no copy
        } else {
            if entry.data == nil { entry.data = ByteBuffer(repeating: 0, count: Int(request.length)) }
            if var data {
                entry.data?.setBuffer(data, at: Int(offset - request.offset))
                data.moveReaderIndex(to: data.writerIndex)
            }
        }
        entry.covered += length
        pending[cookie] = entry
    }

    /// A command asks for one meta context, so its reply holds one block
    /// status chunk (the protocol: exactly one per context); a second would
    /// describe the same range again, perhaps differently.
    func deliverExtents(_ cookie: UInt64, _ extents: [NBDExtent]) throws {
        guard let entry = pending[cookie] else { return }
        guard entry.extents.isEmpty else { throw NBDError.protocolViolation("a second block status chunk for one request") }
        pending[cookie]?.extents = extents
    }

    func deliverError(_ cookie: UInt64, _ error: NBDError) {
        pending[cookie]?.error = error
    }

    /// The connection is broken: every waiting command fails with `error`.
    func fail(_ error: NBDError) {
        if failure == nil || failure == .connectionClosed { failure = error }
        let waiting = pending
        pending = [:]
        for (_, entry) in waiting {
            entry.continuation?.resume(throwing: error)
        }
    }
}
