import NIOCore

/// Reads exact byte counts from a stream of buffers. The caller bounds every
/// count before asking, so a hostile peer cannot make it buffer without limit.
struct ByteStreamReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
        self.iterator = iterator
    }

    /// Payloads at least this big are gathered into a buffer of their exact
    /// size: one copy per byte, instead of appending socket reads to a
    /// buffer that doubles as it grows.
    static let gatherThreshold = 256 << 10

    mutating func readExactly(_ count: Int) async throws -> ByteBuffer {
        if count >= Self.gatherThreshold, buffer.readableBytes < count {
            return try await gather(count)
        }
        while buffer.readableBytes < count {
            guard var chunk = try await iterator.next() else { throw NBDError.connectionClosed }
            if buffer.readableBytes == 0 {
                buffer = chunk
            } else {
                buffer.writeBuffer(&chunk)
            }
        }
        // readSlice shares storage: no copy of the payload.
        guard let slice = buffer.readSlice(length: count) else { throw NBDError.connectionClosed }
        if buffer.readableBytes == 0 { buffer.clear() }
        return slice
    }

    private mutating func gather(_ count: Int) async throws -> ByteBuffer {
        var payload = ByteBufferAllocator().buffer(capacity: count)
        payload.writeBuffer(&buffer)
        buffer.clear()
        while payload.readableBytes < count {
            guard var chunk = try await iterator.next() else { throw NBDError.connectionClosed }
            let wanted = count - payload.readableBytes
            if chunk.readableBytes <= wanted {
                payload.writeBuffer(&chunk)
            } else {
                // The rest of this socket read starts the next reply.
                var head = chunk.readSlice(length: wanted)!
                payload.writeBuffer(&head)
                buffer = chunk
            }
        }
        return payload
    }

    mutating func readUInt16() async throws -> UInt16 {
        var bytes = try await readExactly(2)
        return bytes.readInteger(as: UInt16.self) ?? 0
    }

    mutating func readUInt32() async throws -> UInt32 {
        var bytes = try await readExactly(4)
        return bytes.readInteger(as: UInt32.self) ?? 0
    }

    mutating func readUInt64() async throws -> UInt64 {
        var bytes = try await readExactly(8)
        return bytes.readInteger(as: UInt64.self) ?? 0
    }
}
