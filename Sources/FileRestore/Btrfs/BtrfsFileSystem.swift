import DiskImage
import Foundation

/// A single-device btrfs filesystem read in user space: the default tree's
/// files and folders, subvolumes as folders, extents inline, regular or
/// compressed (zlib, LZO, zstd), holes as zeros. libtsk and the libyal
/// family read no btrfs (SUSE's default), and `btrfs restore` needs a
/// device, so Sendense reads the format itself (see `BtrfsVolume`).
/// An entry's `inode` carries its tree too: `tree << 40 | objectid`.
final class BtrfsFileSystem: BrowsedFileSystem {
    let type = "btrfs"
    var label: String? { volume.label }
    let rootInode: UInt64
    private let volume: BtrfsVolume
    /// Tree id → its root node and level (the root tree's ROOT_ITEMs).
    private var trees: [UInt64: (root: UInt64, level: UInt8)] = [:]

    static let fsTree: UInt64 = 5
    static let rootDirectory: UInt64 = 256
    static let treeShift: UInt64 = 40

    static func open(_ reader: any DiskImageReader) throws -> BtrfsFileSystem? {
        guard let volume = try BtrfsVolume.open(reader) else { return nil }
        return try BtrfsFileSystem(volume: volume)
    }

    private init(volume: BtrfsVolume) throws {
        self.volume = volume
        rootInode = Self.fsTree << Self.treeShift | Self.rootDirectory
        guard try tree(Self.fsTree) != nil else { throw BtrfsError("no filesystem tree") }
    }

    /// A subvolume's (or the default tree's) root node, from its ROOT_ITEM.
    private func tree(_ id: UInt64) throws -> (root: UInt64, level: UInt8)? {
        if let known = trees[id] { return known }
        let items = try volume.items(root: volume.rootTree, level: volume.rootLevel, objectID: id, type: BtrfsItemType.rootItem, limit: 1)
        guard let item = items.first?.data, item.count >= 239 else { return nil }
        let found = (root: item.le64(at: 176), level: item[238])
        trees[id] = found
        return found
    }

    private func split(_ inode: UInt64) -> (tree: UInt64, object: UInt64) {
        (inode >> Self.treeShift, inode & ((1 << Self.treeShift) - 1))
    }

    // MARK: browsing

    func list(directory inode: UInt64, volume index: Int, displayPath: [String]) throws -> [RestoreEntry] {
        let (treeID, directory) = split(inode)
        let path = RestorePath.join(displayPath)
        do {
            guard let tree = try tree(treeID) else { throw BtrfsError("subvolume \(treeID) has no tree") }
            let items = try volume.items(root: tree.root, level: tree.level, objectID: directory, type: BtrfsItemType.dirIndex)
            var entries: [RestoreEntry] = []
            entries.reserveCapacity(items.count)
            for (_, data) in items {
                guard data.count >= 30 else { continue }
                let location = BtrfsKey(data, at: 0)
                let nameLength = Int(data.le16(at: 27))
                guard nameLength > 0, 30 + nameLength <= data.count else { continue }
                let name = String(decoding: data[30..<(30 + nameLength)], as: UTF8.self)
                guard name != ".", name != ".." else { continue }
                // A subvolume: its own tree, whose root folder is 256.
                let (childTree, childObject) = location.type == BtrfsItemType.rootItem
                    ? (location.objectID, Self.rootDirectory) : (treeID, location.objectID)
                guard childTree < 1 << (64 - Self.treeShift), childObject < 1 << Self.treeShift else { continue }
                entries.append(try entry(name: name, tree: childTree, object: childObject, volume: index, parent: displayPath))
            }
            return entries
        } catch let error as BtrfsError {
            throw FileRestoreError.unreadable(path: path, reason: error.description)
        }
    }

    func lookup(_ name: String, in directory: UInt64, volume index: Int, parent: [String]) throws -> RestoreEntry? {
        try list(directory: directory, volume: index, displayPath: parent).first { $0.name == name }
    }

    func open(_ entry: RestoreEntry) throws -> any OpenedFile {
        let (treeID, object) = split(entry.inode)
        guard let tree = try tree(treeID) else { throw FileRestoreError.unreadable(path: entry.path, reason: "subvolume \(treeID) has no tree") }
        return BtrfsOpenedFile(volume: volume, tree: tree, object: object, size: entry.size, path: entry.path)
    }

    private func entry(name: String, tree treeID: UInt64, object: UInt64, volume index: Int, parent: [String]) throws -> RestoreEntry {
        guard let tree = try tree(treeID) else { throw BtrfsError("subvolume \(treeID) has no tree") }
        let inode = try volume.items(root: tree.root, level: tree.level, objectID: object, type: BtrfsItemType.inode, limit: 1).first?.data
        guard let inode, inode.count >= 160 else { throw BtrfsError("\(name) has no inode") }
        let mode = inode.le32(at: 52)
        let kind: RestoreEntry.Kind = switch mode & 0o170000 {
        case 0o100000: .file
        case 0o040000: .directory
        case 0o120000: .symlink
        default: .other
        }
        let seconds = Int64(bitPattern: inode.le64(at: 136)), nanoseconds = inode.le32(at: 144)
        var target: String?
        if kind == .symlink, let extent = try volume.items(root: tree.root, level: tree.level, objectID: object,
                                                          type: BtrfsItemType.extentData, limit: 1).first?.data, extent.count > 21 {
            target = String(decoding: extent[21...], as: UTF8.self)
        }
        return RestoreEntry(
            name: name, path: RestorePath.join(parent + [name]), kind: kind, size: kind == .directory ? 0 : inode.le64(at: 16),
            mode: mode & 0o7777, modified: Date(timeIntervalSince1970: TimeInterval(seconds) + TimeInterval(nanoseconds) / 1e9),
            linkTarget: target, volume: index, inode: treeID << Self.treeShift | object)
    }
}

/// A btrfs file's bytes, extent by extent; the last compressed extent
/// decoded is kept, as reads come in order.
final class BtrfsOpenedFile: OpenedFile {
    private struct Extent {
        let fileOffset: UInt64
        let length: UInt64
        let data: [UInt8]
    }

    private let volume: BtrfsVolume
    private let tree: (root: UInt64, level: UInt8)
    private let object: UInt64
    private let size: UInt64
    private let path: String
    private var extents: [(key: BtrfsKey, data: [UInt8])]?
    private var decoded: (fileOffset: UInt64, bytes: [UInt8])?

    init(volume: BtrfsVolume, tree: (root: UInt64, level: UInt8), object: UInt64, size: UInt64, path: String) {
        self.volume = volume
        self.tree = tree
        self.object = object
        self.size = size
        self.path = path
    }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < size, buffer.count > 0 else { return 0 }
        let count = Int(min(UInt64(buffer.count), size - offset))
        do {
            if extents == nil {
                extents = try volume.items(root: tree.root, level: tree.level, objectID: object, type: BtrfsItemType.extentData)
            }
            var done = 0
            while done < count {
                let position = offset + UInt64(done)
                let piece = try fill(buffer, from: done, upTo: count, at: position)
                guard piece > 0 else { throw BtrfsError("no progress at \(position)") }
                done += piece
            }
            return count
        } catch let error as BtrfsError {
            throw FileRestoreError.unreadable(path: path, reason: error.description)
        }
    }

    /// Fills what one extent (or the hole before the next) holds at `position`.
    private func fill(_ buffer: UnsafeMutableRawBufferPointer, from start: Int, upTo end: Int, at position: UInt64) throws -> Int {
        let wanted = end - start
        // The extent holding `position`: the last starting at or before it.
        guard let extent = extents?.last(where: { $0.key.offset <= position }), extent.data.count >= 21 else {
            let next = extents?.first(where: { $0.key.offset > position })?.key.offset ?? (position + UInt64(wanted))
            return zero(buffer, from: start, count: Int(min(UInt64(wanted), next - position)))
        }
        let item = extent.data
        let compression = item[16], kind = item[20]
        let within = position - extent.key.offset
        if kind == 0 {
            // Inline: the data follows the header (compressed to ram_bytes, or as is).
            let ramBytes = Int(clamping: item.le64(at: 8))
            let inline = compression == 0 ? Array(item[21...])
                : try BtrfsDecompressor.decompress(Array(item[21...]), type: compression, ramBytes: ramBytes, sectorSize: volume.sectorSize)
            guard within < UInt64(inline.count) else { return hole(buffer, start, wanted, position) }
            let n = min(wanted, inline.count - Int(within))
            copy(inline[Int(within)..<(Int(within) + n)], into: buffer, at: start)
            return n
        }
        guard item.count >= 53 else { throw BtrfsError("an extent item of \(item.count) bytes") }
        let diskStart = item.le64(at: 21), diskBytes = item.le64(at: 29), extentOffset = item.le64(at: 37), numBytes = item.le64(at: 45)
        guard within < numBytes else { return hole(buffer, start, wanted, position) }
        let n = Int(min(UInt64(wanted), numBytes - within))
        // Preallocated, or a hole written as an extent: zeros.
        if kind == 2 || diskStart == 0 { return zero(buffer, from: start, count: n) }
        if compression == 0 {
            let (logical, overflow) = diskStart.addingReportingOverflow(extentOffset)
            guard !overflow, logical <= UInt64.max - within else { throw BtrfsError("an extent beyond the address space") }
            let bytes = try volume.read(count: n, logical: logical + within)
            copy(bytes[...], into: buffer, at: start)
            return n
        }
        if decoded?.fileOffset != extent.key.offset {
            guard diskBytes <= UInt64(BtrfsDecompressor.maxOutput) else { throw BtrfsError("a compressed extent of \(diskBytes) bytes") }
            let compressed = try volume.read(count: Int(diskBytes), logical: diskStart)
            decoded = (extent.key.offset, try BtrfsDecompressor.decompress(compressed, type: compression, ramBytes: Int(clamping: item.le64(at: 8)),
                                                                          sectorSize: volume.sectorSize))
        }
        guard let bytes = decoded?.bytes, extentOffset <= UInt64(bytes.count), within + UInt64(n) <= UInt64(bytes.count) - extentOffset else {
            throw BtrfsError("a compressed extent shorter than its file range")
        }
        let from = Int(extentOffset + within)
        copy(bytes[from..<(from + n)], into: buffer, at: start)
        return n
    }

    /// Zeros from `position` up to the next extent (a hole; btrfs's no-holes feature writes none).
    private func hole(_ buffer: UnsafeMutableRawBufferPointer, _ start: Int, _ wanted: Int, _ position: UInt64) -> Int {
        let next = extents?.first(where: { $0.key.offset > position })?.key.offset ?? (position + UInt64(wanted))
        return zero(buffer, from: start, count: Int(min(UInt64(wanted), max(1, next - position))))
    }

    private func zero(_ buffer: UnsafeMutableRawBufferPointer, from start: Int, count: Int) -> Int {
        UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + count)]).initializeMemory(as: UInt8.self, repeating: 0)
        return count
    }

    private func copy(_ bytes: ArraySlice<UInt8>, into buffer: UnsafeMutableRawBufferPointer, at start: Int) {
        bytes.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[start..<(start + $0.count)]).copyMemory(from: $0) }
    }
}
