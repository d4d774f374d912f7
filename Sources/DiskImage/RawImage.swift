#if canImport(Glibc)
import Glibc
#endif

// Linux lseek whences for sparse files (GNU extensions Glibc does not import).
private let seekData: Int32 = 3
private let seekHole: Int32 = 4

/// A raw image file: guest byte N is file byte N. Holes (seekHole) are
/// reported as zero runs so sparse files copy fast.
public final class RawImage: DiskImageReader {
    let file: ImageFile
    public let virtualSize: UInt64
    public var path: String { file.path }

    init(file: ImageFile) throws {
        self.file = file
        self.virtualSize = try file.size
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws {
        try checkRange(offset, buffer.count)
        try file.read(into: buffer, at: offset)
    }

    public func extents(from offset: UInt64, length: UInt64) throws -> [ImageExtent] {
        let end = offset >= virtualSize ? offset : offset + min(length, virtualSize - offset)
        var result: [ImageExtent] = []
        var position = offset
        while position < end {
            let data = lseek(file.fd, off_t(position), seekData)
            if data < 0 {
                // ENXIO: only a hole remains. Other errors: the filesystem
                // cannot tell, so everything counts as data.
                result.appendMerging(ImageExtent(offset: position, length: end - position, kind: errno == ENXIO ? .zero : .data))
                break
            }
            let dataStart = min(UInt64(data), end)
            result.appendMerging(ImageExtent(offset: position, length: dataStart - position, kind: .zero))
            guard dataStart < end else { break }
            let hole = lseek(file.fd, off_t(dataStart), seekHole)
            let dataEnd = hole < 0 ? end : min(UInt64(hole), end)
            result.appendMerging(ImageExtent(offset: dataStart, length: dataEnd - dataStart, kind: .data))
            position = dataEnd
        }
        return result
    }
}
