import DiskImage

/// The on-disk structures of btrfs a reader needs, read-only and bounded:
/// the superblock, the logical → physical chunk map, and B-tree searches.
/// Layout per the btrfs on-disk format documentation (little-endian
/// throughout; keys are objectid, type, offset).
struct BtrfsKey: Comparable, Sendable {
    var objectID: UInt64
    var type: UInt8
    var offset: UInt64

    static func < (a: BtrfsKey, b: BtrfsKey) -> Bool {
        (a.objectID, a.type, a.offset) < (b.objectID, b.type, b.offset)
    }

    static let size = 17

    init(objectID: UInt64, type: UInt8, offset: UInt64) {
        self.objectID = objectID
        self.type = type
        self.offset = offset
    }

    init(_ bytes: [UInt8], at position: Int) {
        objectID = bytes.le64(at: position)
        type = bytes[position + 8]
        offset = bytes.le64(at: position + 9)
    }
}

enum BtrfsItemType {
    static let inode: UInt8 = 1
    static let dirIndex: UInt8 = 96
    static let extentData: UInt8 = 108
    static let rootItem: UInt8 = 132
    static let chunkItem: UInt8 = 228
}

struct BtrfsError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = "btrfs: " + description }
}

/// A btrfs filesystem's device (one: multi-device filesystems are refused)
/// and how logical addresses map onto it.
final class BtrfsVolume {
    static let superblockOffset: UInt64 = 0x10000
    static let magic = Array("_BHRfS_M".utf8)
    /// The deepest tree accepted (btrfs trees are at most 8 levels).
    static let maxLevel = 8

    let reader: any DiskImageReader
    let nodeSize: Int
    let sectorSize: Int
    let label: String?
    let rootTree: UInt64
    let rootLevel: UInt8
    /// Logical start → (length, physical start), sorted by logical start.
    private(set) var chunks: [(logical: UInt64, length: UInt64, physical: UInt64)] = []

    /// The btrfs on `reader`, nil without its superblock magic.
    static func open(_ reader: any DiskImageReader) throws -> BtrfsVolume? {
        guard reader.virtualSize >= superblockOffset + 4096 else { return nil }
        let superblock = try reader.read(count: 4096, at: superblockOffset)
        guard Array(superblock[0x40..<0x48]) == magic else { return nil }
        return try BtrfsVolume(reader: reader, superblock: superblock)
    }

    private init(reader: any DiskImageReader, superblock sb: [UInt8]) throws {
        self.reader = reader
        nodeSize = Int(sb.le32(at: 0x94))
        sectorSize = Int(sb.le32(at: 0x90))
        guard [4096, 8192, 16384, 32768, 65536].contains(nodeSize), [4096, 8192, 16384, 32768, 65536].contains(sectorSize) else {
            throw BtrfsError("node size \(nodeSize), sector size \(sectorSize)")
        }
        guard sb.le64(at: 0x88) == 1 else { throw BtrfsError("a filesystem of \(sb.le64(at: 0x88)) devices; only single-device btrfs is read") }
        rootTree = sb.le64(at: 0x50)
        rootLevel = sb[0xc6]
        let chunkRoot = sb.le64(at: 0x58), chunkLevel = sb[0xc7]
        let name = String(decoding: sb[0x12b..<(0x12b + 256)].prefix { $0 != 0 }, as: UTF8.self)
        label = name.isEmpty ? nil : name
        // The system chunks the superblock carries, enough to read the chunk tree.
        let arraySize = Int(sb.le32(at: 0xa0))
        guard arraySize <= 2048 else { throw BtrfsError("system chunk array of \(arraySize) bytes") }
        var position = 0x32b
        let end = 0x32b + arraySize
        while position + BtrfsKey.size + 48 <= end {
            let key = BtrfsKey(sb, at: position)
            position += BtrfsKey.size
            guard key.type == BtrfsItemType.chunkItem else { throw BtrfsError("system chunk array entry of type \(key.type)") }
            let stripes = Int(sb.le16(at: position + 44))
            guard stripes >= 1, position + 48 + stripes * 32 <= end else { throw BtrfsError("system chunk of \(stripes) stripes") }
            addChunk(logical: key.offset, item: sb, at: position)
            position += 48 + stripes * 32
        }
        // Then every chunk, from the chunk tree.
        try walk(root: chunkRoot, level: chunkLevel, from: BtrfsKey(objectID: 256, type: BtrfsItemType.chunkItem, offset: 0)) { key, data in
            guard key.type == BtrfsItemType.chunkItem else { return key.objectID <= 256 }
            guard data.count >= 48 + 32 else { throw BtrfsError("a chunk item of \(data.count) bytes") }
            addChunk(logical: key.offset, item: data, at: 0)
            return true
        }
    }

    /// A chunk item: its length, and its first stripe (single, DUP and
    /// RAID1 chunks hold the whole data in each stripe on one device).
    private func addChunk(logical: UInt64, item: [UInt8], at position: Int) {
        let length = item.le64(at: position)
        let type = item.le64(at: position + 24)
        // RAID0/10/5/6 spread data over devices; a single-device filesystem has none.
        guard type & (1 << 3 | 1 << 6 | 1 << 7 | 1 << 8) == 0 else { return }
        let physical = item.le64(at: position + 48 + 8)
        guard !chunks.contains(where: { $0.logical == logical }) else { return }
        chunks.append((logical, length, physical))
        chunks.sort { $0.logical < $1.logical }
    }

    /// Reads `count` bytes at a logical address (within one chunk).
    func read(count: Int, logical: UInt64) throws -> [UInt8] {
        guard let chunk = chunks.last(where: { $0.logical <= logical }), logical - chunk.logical < chunk.length,
              UInt64(count) <= chunk.length - (logical - chunk.logical)
        else { throw BtrfsError("logical address \(logical) is in no chunk") }
        let (physical, overflow) = chunk.physical.addingReportingOverflow(logical - chunk.logical)
        guard !overflow, physical <= reader.virtualSize, UInt64(count) <= reader.virtualSize - physical else {
            throw BtrfsError("logical address \(logical) maps beyond the disk")
        }
        return try reader.read(count: count, at: physical)
    }

    /// Visits the items of a tree in key order from the first at or after
    /// `from`; `visit` answers false to stop.
    func walk(root: UInt64, level: UInt8, from: BtrfsKey, _ visit: (BtrfsKey, [UInt8]) throws -> Bool) throws {
        var visited = 0
        _ = try walkNode(root, level: Int(level), from: from, visited: &visited, visit)
    }

    private func walkNode(_ address: UInt64, level: Int, from: BtrfsKey, visited: inout Int,
                          _ visit: (BtrfsKey, [UInt8]) throws -> Bool) throws -> Bool {
        guard level <= Self.maxLevel else { throw BtrfsError("a tree deeper than \(Self.maxLevel)") }
        visited += 1
        guard visited < 1 << 20 else { throw BtrfsError("a tree of more than a million nodes") }
        let node = try read(count: nodeSize, logical: address)
        guard node.le64(at: 0x30) == address, Int(node[0x64]) == level else {
            throw BtrfsError("the tree node at \(address) does not say it is there (level \(node[0x64]), expected \(level))")
        }
        let count = Int(node.le32(at: 0x60))
        let header = 0x65
        if level == 0 {
            guard header + count * 25 <= nodeSize else { throw BtrfsError("a leaf of \(count) items") }
            for index in 0..<count {
                let position = header + index * 25
                let key = BtrfsKey(node, at: position)
                guard key >= from else { continue }
                let offset = Int(node.le32(at: position + 17)), size = Int(node.le32(at: position + 21))
                guard header + offset + size <= nodeSize else { throw BtrfsError("an item beyond its leaf") }
                guard try visit(key, Array(node[(header + offset)..<(header + offset + size)])) else { return false }
            }
            return true
        }
        guard header + count * 33 <= nodeSize, count > 0 else { throw BtrfsError("a node of \(count) pointers") }
        for index in 0..<count {
            let position = header + index * 33
            // Skip children wholly before `from`: the next child starts at or before it.
            if index + 1 < count, BtrfsKey(node, at: position + 33) <= from { continue }
            guard try walkNode(node.le64(at: position + 17), level: level - 1, from: from, visited: &visited, visit) else { return false }
        }
        return true
    }

    /// The items of one object (an inode) of one type, in offset order.
    func items(root: UInt64, level: UInt8, objectID: UInt64, type: UInt8, from offset: UInt64 = 0,
               limit: Int = Int.max) throws -> [(key: BtrfsKey, data: [UInt8])] {
        var found: [(key: BtrfsKey, data: [UInt8])] = []
        try walk(root: root, level: level, from: BtrfsKey(objectID: objectID, type: type, offset: offset)) { key, data in
            guard key.objectID == objectID, key.type == type else { return false }
            found.append((key, data))
            return found.count < limit
        }
        return found
    }
}
