import NIOCore

/// Reads exact byte counts from a stream of buffers. The caller bounds every
/// count before asking, so a hostile peer cannot make it buffer without limit.
struct ByteStreamReader {
    private var iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    private var buffer = ByteBuffer()

    init(_ iterator: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator) {
        self.iterator = iterator
    }

    /// Items at least this big (read payloads) are gathered into a buffer
    /// of their own, starting on a page boundary, so the image writer can
    /// hand them to O_DIRECT as they are instead of copying them into
    /// aligned memory first (DataSink).
    static let gatherThreshold = 256 << 10
    static let gatherAlignment = 4096

    /// The next `count` bytes. An item inside one socket read is a slice of
    /// it (no copy); one that spans reads is gathered, which copies its own
    /// bytes and nothing more: the rest of the last read stays a slice.
    mutating func readExactly(_ count: Int) async throws -> ByteBuffer {
        if buffer.readableBytes == 0, count > 0, count < Self.gatherThreshold {
            guard let chunk = try await iterator.next() else { throw NBDError.connectionClosed }
            buffer = chunk
        }
        if buffer.readableBytes < count {
            return try await gather(count, aligned: count >= Self.gatherThreshold)
        }
        guard let slice = buffer.readSlice(length: count) else { throw NBDError.connectionClosed }
        if buffer.readableBytes == 0 { buffer = ByteBuffer() }  // let go of the read's storage
        return slice
    }

    private mutating func gather(_ count: Int, aligned: Bool) async throws -> ByteBuffer {
        var payload: ByteBuffer
        if aligned {
            payload = ByteBufferAllocator().buffer(capacity: count + Self.gatherAlignment)
            let address = payload.withUnsafeMutableWritableBytes { UInt(bitPattern: $0.baseAddress) }
            let padding = (Self.gatherAlignment - Int(address % UInt(Self.gatherAlignment))) % Self.gatherAlignment
            payload.moveWriterIndex(forwardBy: padding)
            payload.moveReaderIndex(forwardBy: padding)
        } else {
            payload = ByteBufferAllocator().buffer(capacity: count)
        }
        payload.writeBuffer(&buffer)
        buffer = ByteBuffer()
        while payload.readableBytes < count {
            guard var chunk = try await iterator.next() else { throw NBDError.connectionClosed }
            let wanted = count - payload.readableBytes
            if chunk.readableBytes <= wanted {
                payload.writeBuffer(&chunk)
            } else {
                // The rest of this socket read starts the next item.
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
