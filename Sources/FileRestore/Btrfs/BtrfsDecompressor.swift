import CLZO
import DiskImage

/// Inflates one compressed btrfs extent (at most 128 KiB of file data) to
/// its `ramBytes`: zlib streams, LZO in btrfs's segmented framing, zstd frames.
enum BtrfsDecompressor {
    static let maxOutput = 1 << 20

    static func decompress(_ input: [UInt8], type: UInt8, ramBytes: Int, sectorSize: Int) throws -> [UInt8] {
        guard ramBytes >= 0, ramBytes <= maxOutput else { throw BtrfsError("a compressed extent of \(ramBytes) bytes") }
        var output = [UInt8](repeating: 0, count: ramBytes)
        let produced: Int? = input.withUnsafeBytes { source in
            switch type {
            case 1: output.withUnsafeMutableBytes { Decompression.inflate(source, into: $0, windowBits: 15) }
            case 3: output.withUnsafeMutableBytes { Decompression.zstd(source, into: $0) }
            case 2: lzo(input, into: &output, sectorSize: sectorSize)
            default: nil
            }
        }
        guard let produced else { throw BtrfsError("extent compression \(type) cannot be decoded") }
        // A short extent (the file's last) leaves the rest zero, as btrfs does.
        guard produced > 0 || ramBytes == 0 else { throw BtrfsError("a compressed extent decodes to nothing") }
        return output
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
