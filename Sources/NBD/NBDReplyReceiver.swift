import NIOCore

/// Reads replies off the connection and hands them to their commands. Every
/// length is checked against what the command asked for before a byte of
/// payload is buffered: a hostile server cannot make the hub allocate more
/// than it requested.
enum NBDReplyReceiver {
    /// Descriptors accepted in one block status chunk (8 MiB of payload).
    static let maxDescriptors = 1 << 20

    static func run(reader: inout ByteStreamReader, connection: NBDConnection) async throws {
        do {
            while true {
                let magic = try await reader.readUInt32()
                switch magic {
                case NBDProtocol.simpleReplyMagic:
                    try await simpleReply(reader: &reader, connection: connection)
                case NBDProtocol.structuredReplyMagic:
                    try await structuredChunk(reader: &reader, connection: connection)
                default:
                    throw NBDError.protocolViolation("bad reply magic 0x\(String(magic, radix: 16))")
                }
            }
        } catch let error as NBDError {
            await connection.fail(error)
            throw error
        } catch {
            await connection.fail(.connectionClosed)
            throw error
        }
    }

    private static func request(_ cookie: UInt64, _ connection: NBDConnection) async throws -> NBDConnection.Request {
        guard let request = await connection.request(for: cookie) else {
            throw NBDError.protocolViolation("a reply for unknown cookie \(cookie)")
        }
        return request
    }

    private static func simpleReply(reader: inout ByteStreamReader, connection: NBDConnection) async throws {
        let code = try await reader.readUInt32()
        let cookie = try await reader.readUInt64()
        let request = try await request(cookie, connection)
        if code != 0 {
            await connection.complete(cookie, error: .commandFailed(command: "\(request.command)", code: code, message: ""))
        } else if request.command == .read {
            await connection.complete(cookie, error: nil, data: try await reader.readExactly(Int(request.length)))
        } else {
            await connection.complete(cookie, error: nil)
        }
    }

    private static func structuredChunk(reader: inout ByteStreamReader, connection: NBDConnection) async throws {
        let flags = try await reader.readUInt16()
        let type = try await reader.readUInt16()
        let cookie = try await reader.readUInt64()
        let length = Int(try await reader.readUInt32())
        let request = try await request(cookie, connection)
        let limit: Int = switch type {
        case NBDProtocol.ReplyType.none: 0
        case NBDProtocol.ReplyType.offsetData: 8 + Int(request.length)
        case NBDProtocol.ReplyType.offsetHole: 12
        case NBDProtocol.ReplyType.blockStatus: 4 + 8 * maxDescriptors
        default: 14 + NBDProtocol.maxErrorMessage
        }
        guard length <= limit else {
            throw NBDError.protocolViolation("a reply chunk of type \(type) claims \(length) bytes for a \(request.command) of \(request.length)")
        }
        // A data chunk's offset is read apart from its data, so that the data
        // starts where the reader aligns big payloads.
        var payload = type == NBDProtocol.ReplyType.offsetData ? ByteBuffer() : try await reader.readExactly(length)
        switch type {
        case NBDProtocol.ReplyType.none:
            break
        case NBDProtocol.ReplyType.offsetData:
            guard request.command == .read, length > 8 else { throw NBDError.protocolViolation("a malformed data chunk") }
            let offset = try await reader.readUInt64()
            try await connection.deliverRead(cookie, offset: offset, data: try await reader.readExactly(length - 8), holeLength: 0)
        case NBDProtocol.ReplyType.offsetHole:
            guard request.command == .read, let offset = payload.readInteger(as: UInt64.self),
                  let hole = payload.readInteger(as: UInt32.self), hole > 0
            else { throw NBDError.protocolViolation("a malformed hole chunk") }
            try await connection.deliverRead(cookie, offset: offset, data: nil, holeLength: hole)
        case NBDProtocol.ReplyType.blockStatus:
            guard request.command == .blockStatus, length >= 12, (length - 4) % 8 == 0,
                  let context = payload.readInteger(as: UInt32.self), connection.info.metaContexts.values.contains(context)
            else { throw NBDError.protocolViolation("a malformed block status chunk") }
            // The server answers for every negotiated context; this request asked about one.
            guard context == request.contextID else { break }
            var extents: [NBDExtent] = []
            var position = request.offset
            while let extentLength = payload.readInteger(as: UInt32.self), let status = payload.readInteger(as: UInt32.self) {
                guard extentLength > 0 else { throw NBDError.protocolViolation("a block status extent of length 0") }
                extents.append(NBDExtent(offset: position, length: UInt64(extentLength), flags: status))
                let (next, overflow) = position.addingReportingOverflow(UInt64(extentLength))
                guard !overflow else { throw NBDError.protocolViolation("block status extents run past 2^64") }
                position = next
            }
            try await connection.deliverExtents(cookie, extents)
        default:
            guard type & NBDProtocol.ReplyType.errorBit != 0, length >= 6,
                  let code = payload.readInteger(as: UInt32.self), let messageLength = payload.readInteger(as: UInt16.self),
                  Int(messageLength) <= payload.readableBytes
            else { throw NBDError.protocolViolation("an unknown or malformed reply chunk of type \(type)") }
            let message = payload.readString(length: Int(messageLength)) ?? ""
            await connection.deliverError(cookie, .commandFailed(command: "\(request.command)", code: code == 0 ? 5 : code, message: message))
        }
        if flags & NBDProtocol.replyFlagDone != 0 {
            await connection.complete(cookie, error: nil)
        }
    }
}
