import CLZO
import CZlib
import CZstd

/// Inflates one compressed btrfs extent (at most 128 KiB of file data) to
/// its `ramBytes`: zlib streams, LZO in btrfs's segmented framing, zstd frames.
enum BtrfsDecompressor {
    static let maxOutput = 1 << 20

    static func decompress(_ input: [UInt8], type: UInt8, ramBytes: Int, sectorSize: Int) throws -> [UInt8] {
        guard ramBytes >= 0, ramBytes <= maxOutput else { throw BtrfsError("a compressed extent of \(ramBytes) bytes") }
        var output = [UInt8](repeating: 0, count: ramBytes)
        let produced: Int? = switch type {
        case 1: inflate(input, into: &output)
        case 2: lzo(input, into: &output, sectorSize: sectorSize)
        case 3: zstd(input, into: &output)
        default: nil
        }
        guard let produced else { throw BtrfsError("extent compression \(type) cannot be decoded") }
        // A short extent (the file's last) leaves the rest zero, as btrfs does.
        guard produced > 0 || ramBytes == 0 else { throw BtrfsError("a compressed extent decodes to nothing") }
        return output
    }

    private static func inflate(_ input: [UInt8], into output: inout [UInt8]) -> Int? {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        let count = output.count
        return input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress?.assumingMemoryBound(to: Bytef.self))
                stream.avail_in = uInt(source.count)
                stream.next_out = target.baseAddress?.assumingMemoryBound(to: Bytef.self)
                stream.avail_out = uInt(count)
                let status = CZlib.inflate(&stream, Z_FINISH)
                guard status == Z_STREAM_END || status == Z_BUF_ERROR || status == Z_OK else { return nil }
                return count - Int(stream.avail_out)
            }
        }
    }

    private static func zstd(_ input: [UInt8], into output: inout [UInt8]) -> Int? {
        guard let context = ZSTD_createDCtx() else { return nil }
        defer { ZSTD_freeDCtx(context) }
        return input.withUnsafeBytes { source in
            output.withUnsafeMutableBytes { target in
                var inBuffer = ZSTD_inBuffer(src: source.baseAddress, size: source.count, pos: 0)
                var outBuffer = ZSTD_outBuffer(dst: target.baseAddress, size: target.count, pos: 0)
                while outBuffer.pos < outBuffer.size {
                    let result = ZSTD_decompressStream(context, &outBuffer, &inBuffer)
                    if ZSTD_isError(result) != 0 { return nil }
                    if result == 0 || inBuffer.pos == inBuffer.size { break }
                }
                return outBuffer.pos
            }
        }
    }

    /// btrfs's LZO: a 4-byte total length, then segments (a 4-byte length
    /// and LZO1X data, one sector of output each); a segment header never
    /// straddles a sector boundary of the input (padding skips to the next).
    private static func lzo(_ input: [UInt8], into output: inout [UInt8], sectorSize: Int) -> Int? {
        guard input.count >= 4 else { return nil }
        let total = min(Int(input.le32(at: 0)), input.count)
        var position = 4
        var produced = 0
        while position < total && produced < output.count {
            let left = sectorSize - position % sectorSize
            if left < 4 { position += left }
            guard position + 4 <= total else { break }
            let length = Int(input.le32(at: position))
            position += 4
            guard length > 0, position + length <= total else { return nil }
            var outLength = lzo_uint(min(sectorSize, output.count - produced))
            let status = input.withUnsafeBytes { source in
                output.withUnsafeMutableBytes { target in
                    lzo1x_decompress_safe(source.baseAddress!.advanced(by: position).assumingMemoryBound(to: UInt8.self), lzo_uint(length),
                                          target.baseAddress!.advanced(by: produced).assumingMemoryBound(to: UInt8.self), &outLength, nil)
                }
            }
            // LZO_E_OUTPUT_OVERRUN (-5) only means the last segment is longer than the file's end.
            guard status == LZO_E_OK || status == -5 else { return nil }
            produced += Int(outLength)
            position += length
        }
        return produced
    }
}
