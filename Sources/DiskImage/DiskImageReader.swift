/// A disk image read as the guest sees it: `virtualSize` bytes, holes and
/// zero clusters reading as zeros, backing files resolved.
public protocol DiskImageReader: Sendable {
    var path: String { get }
    var virtualSize: UInt64 { get }

    /// Fills `buffer` with the guest bytes at `offset`. Throws when the range
    /// runs past `virtualSize` or the image is damaged; never returns partial data.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws

    /// The range `[offset, offset + length)` as runs of data and of zeros,
    /// in order, adjacent runs of one kind merged. Zero runs need not be read.
    func extents(from offset: UInt64, length: UInt64) throws -> [ImageExtent]
}

extension DiskImageReader {
    public func read(count: Int, at offset: UInt64) throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        try bytes.withUnsafeMutableBytes { (buffer) in try read(into: buffer, at: offset) }
        return bytes
    }

    public func extents() throws -> [ImageExtent] {
        try extents(from: 0, length: virtualSize)
    }

    package func checkRange(_ offset: UInt64, _ count: Int) throws {
        guard offset <= virtualSize, UInt64(count) <= virtualSize - offset else {
            throw DiskImageError.outOfRange(path: path, offset: offset, length: count, size: virtualSize)
        }
    }
}

/// A run of the virtual disk.
public struct ImageExtent: Equatable, Sendable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// Allocated somewhere in the chain: must be read.
        case data
        /// Reads as zeros (a zero cluster, or unallocated all the way down).
        case zero
    }

    public var offset: UInt64
    public var length: UInt64
    public var kind: Kind

    public init(offset: UInt64, length: UInt64, kind: Kind) {
        self.offset = offset
        self.length = length
        self.kind = kind
    }

    public var end: UInt64 { offset + length }
    public var description: String { "\(kind)[\(offset)+\(length)]" }
}

extension [ImageExtent] {
    /// Appends a run, merging it into the last one when they touch and agree.
    mutating func appendMerging(_ extent: ImageExtent) {
        guard extent.length > 0 else { return }
        if let last = self.last, last.kind == extent.kind, last.end == extent.offset {
            self[count - 1].length += extent.length
        } else {
            append(extent)
        }
    }
}

/// Opens images by their content: QCOW2 by its magic, anything else as raw.
public enum DiskImages {
    /// The deepest backing chain accepted; deeper ones are almost surely loops.
    public static let maxChainDepth = 1000

    /// Opens the image at `path` and its backing chain.
    /// - Parameter root: when set, every backing file must lie in this folder
    ///   (symbolic links resolved). An image's header names its backing file,
    ///   so an image from a repository someone could tamper with must not
    ///   lead the reader to any other file on the host (`/etc/shadow` as a
    ///   raw backing file would otherwise be served as disk content).
    public static func open(path: String, backingsWithin root: String?) throws -> any DiskImageReader {
        try open(path: path, format: nil, above: [], root: root.map(realPath))
    }

    /// - Parameters:
    ///   - above: the real paths of the images above this one in the chain,
    ///     to refuse a chain that loops back on itself.
    ///   - root: the real path of the folder backing files must lie in.
    static func open(path: String, format: String?, above: [String], root: String?) throws -> any DiskImageReader {
        guard above.count < maxChainDepth else {
            throw DiskImageError.corrupt(path: path, reason: "the backing chain is deeper than \(maxChainDepth)")
        }
        let real = realPath(path)
        if above.contains(real) {
            throw DiskImageError.corrupt(path: path, reason: "the backing chain loops back to \(real)")
        }
        if let root, !above.isEmpty, !real.hasPrefix(root.hasSuffix("/") ? root : root + "/") {
            throw DiskImageError.corrupt(path: above.last ?? path, reason: "its backing file \(path) lies outside \(root)")
        }
        let chain = above + [real]
        let file = try openFile(path)
        switch format {
        case "raw":
            return try RawImage(file: file)
        case "qcow2":
            return try QCOW2Image(file: file, chain: chain, root: root)
        case nil:
            let size = try file.size
            if size >= 4, try file.read(count: 4, at: 0).beUInt32(at: 0) == QCOW2Header.magic {
                return try QCOW2Image(file: file, chain: chain, root: root)
            }
            return try RawImage(file: file)
        case let other?:
            throw DiskImageError.unsupported(path: path, feature: "backing format \(other)")
        }
    }

    /// Opens a regular file for reading. O_NONBLOCK: a FIFO put where an
    /// image should be would otherwise block the open forever; it is then
    /// refused with everything else that is not a regular file.
    static func openFile(_ path: String) throws -> ImageFile {
        let file = try ImageFile(path: path, flags: O_RDONLY | O_NONBLOCK)
        guard try file.isRegular else { throw DiskImageError.notAnImage(path: path, reason: "not a regular file") }
        return file
    }
}

#if canImport(Glibc)
import Glibc
#endif

func realPath(_ path: String) -> String {
    guard let resolved = realpath(path, nil) else { return path }
    defer { free(resolved) }
    return String(cString: resolved)
}
