import CFSXFS
import DiskImage
import Foundation

/// An XFS filesystem read by libfsxfs (libyal) in user space, through a
/// libbfio handle whose reads come back to the restore point's reader.
/// libtsk 4.11 does not read XFS, the default of RHEL and its kin.
final class XFSFileSystem: BrowsedFileSystem {
    let type = "xfs"
    let label: String?
    let rootInode: UInt64
    private let volume: YalHandle
    private let handle: YalHandle
    private let source: Unmanaged<ReaderBox>
    private let inodes: XFSInodeTimes?

    /// The reader the C callback reads from; retained for the handle's life.
    final class ReaderBox {
        let reader: any DiskImageReader
        var lastError: String?
        init(reader: any DiskImageReader) { self.reader = reader }
    }

    static let magic = Array("XFSB".utf8)

    /// The XFS filesystem on `reader`, nil when there is none (no signature).
    /// - Throws: `FileRestoreError.unsupportedFilesystem`-worthy reasons as `XFSError`.
    static func open(_ reader: any DiskImageReader) throws -> XFSFileSystem? {
        guard reader.virtualSize >= 512, try reader.read(count: 4, at: 0) == magic else { return nil }
        return try XFSFileSystem(reader: reader)
    }

    private init(reader: any DiskImageReader) throws {
        let box = Unmanaged.passRetained(ReaderBox(reader: reader))
        var handle: YalHandle?
        guard sendense_bfio_handle(&handle, box.toOpaque(), xfsReadAt, reader.virtualSize) == 1, let handle else {
            box.release()
            throw XFSError("cannot create an I/O handle")
        }
        var volume: YalHandle?
        var error: YalHandle?
        libfsxfs_volume_initialize(&volume, &error)
        guard let volume else {
            var bfio: YalHandle? = handle
            libbfio_handle_free(&bfio, nil)
            box.release()
            throw XFSError(Self.message(&error))
        }
        guard libfsxfs_volume_open_file_io_handle(volume, handle, Int32(LIBFSXFS_ACCESS_FLAG_READ.rawValue), &error) == 1 else {
            let reason = Self.message(&error) + (box.takeUnretainedValue().lastError.map { ": \($0)" } ?? "")
            var freed: YalHandle? = volume
            libfsxfs_volume_free(&freed, nil)
            var bfio: YalHandle? = handle
            libbfio_handle_free(&bfio, nil)
            box.release()
            throw XFSError(reason)
        }
        self.volume = volume
        self.handle = handle
        self.source = box
        inodes = XFSInodeTimes(reader: reader)
        var root: YalHandle?
        if libfsxfs_volume_get_root_directory(volume, &root, &error) == 1, let root {
            var inode: UInt64 = 0
            libfsxfs_file_entry_get_inode_number(root, &inode, nil)
            rootInode = inode
            var freed: YalHandle? = root
            libfsxfs_file_entry_free(&freed, nil)
        } else {
            _ = Self.message(&error)
            rootInode = 0
        }
        var size = 0
        var text = [UInt8](repeating: 0, count: 256)
        if libfsxfs_volume_get_utf8_label_size(volume, &size, nil) == 1, size > 1, size <= 256,
           libfsxfs_volume_get_utf8_label(volume, &text, size, nil) == 1 {
            let name = String(decoding: text.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
            label = name.isEmpty ? nil : name
        } else {
            label = nil
        }
    }

    deinit {
        var error: YalHandle?
        libfsxfs_volume_close(volume, &error)
        var freed: YalHandle? = volume
        libfsxfs_volume_free(&freed, nil)
        var bfio: YalHandle? = handle
        libbfio_handle_free(&bfio, nil)
        source.release()
    }

    // MARK: browsing

    func list(directory inode: UInt64, volume index: Int, displayPath: [String]) throws -> [RestoreEntry] {
        let directory = try entry(inode: inode, path: displayPath)
        defer { free(directory) }
        var count: Int32 = 0
        var error: YalHandle?
        guard libfsxfs_file_entry_get_number_of_sub_file_entries(directory, &count, &error) == 1 else {
            throw FileRestoreError.unreadable(path: RestorePath.join(displayPath), reason: reason(&error))
        }
        var entries: [RestoreEntry] = []
        entries.reserveCapacity(Int(count))
        for position in 0..<count {
            var child: YalHandle?
            guard libfsxfs_file_entry_get_sub_file_entry_by_index(directory, position, &child, &error) == 1, let child else {
                throw FileRestoreError.unreadable(path: RestorePath.join(displayPath), reason: reason(&error))
            }
            defer { free(child) }
            if let entry = makeEntry(child, volume: index, parent: displayPath) { entries.append(entry) }
        }
        return entries
    }

    /// Compares names entry by entry: libfsxfs 20201117's lookup by name
    /// (`get_sub_file_entry_by_utf8_name`) fails for every name.
    func lookup(_ name: String, in directory: UInt64, volume index: Int, parent: [String]) throws -> RestoreEntry? {
        try list(directory: directory, volume: index, displayPath: parent).first { $0.name == name }
    }

    func open(_ entry: RestoreEntry) throws -> any OpenedFile {
        XFSOpenedFile(system: self, entry: try self.entry(inode: entry.inode, path: RestorePath.components(entry.path)), path: entry.path)
    }

    // MARK: libfsxfs

    fileprivate func entry(inode: UInt64, path: [String]) throws -> YalHandle {
        var entry: YalHandle?
        var error: YalHandle?
        guard libfsxfs_volume_get_file_entry_by_inode(volume, inode, &entry, &error) == 1, let entry else {
            throw FileRestoreError.unreadable(path: RestorePath.join(path), reason: reason(&error))
        }
        return entry
    }

    fileprivate func free(_ entry: YalHandle) {
        var freed: YalHandle? = entry
        libfsxfs_file_entry_free(&freed, nil)
    }

    private func makeEntry(_ file: YalHandle, volume: Int, parent: [String]) -> RestoreEntry? {
        var size = 0
        guard libfsxfs_file_entry_get_utf8_name_size(file, &size, nil) == 1, size > 1, size <= 1024 else { return nil }
        var bytes = [UInt8](repeating: 0, count: size)
        guard libfsxfs_file_entry_get_utf8_name(file, &bytes, size, nil) == 1 else { return nil }
        let name = String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
        guard name != ".", name != "..", !name.isEmpty else { return nil }
        var mode: UInt16 = 0
        libfsxfs_file_entry_get_file_mode(file, &mode, nil)
        var inode: UInt64 = 0
        libfsxfs_file_entry_get_inode_number(file, &inode, nil)
        var length: UInt64 = 0
        libfsxfs_file_entry_get_size(file, &length, nil)
        var nanoseconds: Int64 = 0
        let hasTime = libfsxfs_file_entry_get_modification_time(file, &nanoseconds, nil) == 1
        let modified = inodes?.modified(inode: inode)
            ?? (hasTime && nanoseconds != 0 ? Date(timeIntervalSince1970: TimeInterval(nanoseconds) / 1e9) : nil)
        let kind: RestoreEntry.Kind
        switch UInt32(mode) & UInt32(S_IFMT) {
        case UInt32(S_IFREG): kind = .file
        case UInt32(S_IFDIR): kind = .directory
        case UInt32(S_IFLNK): kind = .symlink
        default: kind = .other
        }
        var target: String?
        if kind == .symlink {
            var targetSize = 0
            if libfsxfs_file_entry_get_utf8_symbolic_link_target_size(file, &targetSize, nil) == 1, targetSize > 0, targetSize <= 4097 {
                var text = [UInt8](repeating: 0, count: targetSize)
                if libfsxfs_file_entry_get_utf8_symbolic_link_target(file, &text, targetSize, nil) == 1 {
                    target = String(decoding: text.prefix { $0 != 0 }, as: UTF8.self)
                }
            }
        }
        return RestoreEntry(
            name: name, path: RestorePath.join(parent + [name]), kind: kind, size: kind == .directory ? 0 : length,
            mode: UInt32(mode) & 0o7777,
            modified: modified,
            linkTarget: target, volume: volume, inode: inode)
    }

    fileprivate func reason(_ error: inout YalHandle?) -> String {
        var text = Self.message(&error)
        if let detail = source.takeUnretainedValue().lastError {
            text += ": " + detail
            source.takeUnretainedValue().lastError = nil
        }
        return text
    }

    static func message(_ error: inout YalHandle?) -> String {
        var text = [CChar](repeating: 0, count: 512)
        sendense_fsxfs_message(&error, &text, text.count)
        let bytes = text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let message = String(decoding: bytes, as: UTF8.self).split(separator: "\n").last.map(String.init) ?? ""
        return message.isEmpty ? "libfsxfs failed" : message
    }
}

/// Modification times read from the inodes themselves: libfsxfs 20201117
/// predates XFS's big timestamps (the default since xfsprogs 5.15, so on
/// every RHEL 9 and Debian 12 XFS), which count nanoseconds from 1901 in
/// one 64-bit field; it reads them as seconds and nanoseconds and answers
/// dates around 1999. Inode addressing and fields per the XFS on-disk format.
struct XFSInodeTimes {
    let reader: any DiskImageReader
    let blockSize: UInt64
    let agBlocks: UInt64
    let inodeSize: UInt64
    let inodesPerBlockLog: UInt64
    let agBlocksLog: UInt64

    init?(reader: any DiskImageReader) {
        guard let sb = try? reader.read(count: 512, at: 0), Array(sb[0..<4]) == XFSFileSystem.magic else { return nil }
        self.reader = reader
        blockSize = UInt64(sb.beUInt32(at: 4))
        agBlocks = UInt64(sb.beUInt32(at: 84))
        inodeSize = UInt64(sb.beUInt16(at: 104))
        inodesPerBlockLog = UInt64(sb[123])
        agBlocksLog = UInt64(sb[124])
        guard blockSize >= 512, blockSize <= 65536, inodeSize >= 256, inodeSize <= 2048, agBlocks > 0,
              inodesPerBlockLog < 8, agBlocksLog < 32
        else { return nil }
    }

    func modified(inode: UInt64) -> Date? {
        let agInodeBits = agBlocksLog + inodesPerBlockLog
        let group = inode >> agInodeBits
        let inGroup = inode & ((1 << agInodeBits) - 1)
        // Guest-written numbers: any step may overflow, and then there is no such inode.
        let (groupStart, groupOverflow) = group.multipliedReportingOverflow(by: agBlocks)
        let (block, blockOverflow) = groupStart.addingReportingOverflow(inGroup >> inodesPerBlockLog)
        let (start, positionOverflow) = block.multipliedReportingOverflow(by: blockSize)
        let (position, overflow) = start.addingReportingOverflow((inGroup & ((1 << inodesPerBlockLog) - 1)) * inodeSize)
        guard !groupOverflow, !blockOverflow, !positionOverflow, !overflow, let core = try? reader.read(count: 128, at: position),
              core[0] == UInt8(ascii: "I"), core[1] == UInt8(ascii: "N")
        else { return nil }
        let raw = core.beUInt64(at: 40)
        let version = core[4]
        let flags2 = version >= 3 ? core.beUInt64(at: 120) : 0
        if flags2 & (1 << 3) != 0 {
            // Big timestamps: nanoseconds since 1901-12-13T20:45:52Z (2^31 s before 1970).
            return Date(timeIntervalSince1970: TimeInterval(raw / 1_000_000_000) - 2_147_483_648
                        + TimeInterval(raw % 1_000_000_000) / 1e9)
        }
        return Date(timeIntervalSince1970: TimeInterval(Int32(truncatingIfNeeded: raw >> 32))
                    + TimeInterval(UInt32(truncatingIfNeeded: raw)) / 1e9)
    }
}

/// A regular file of an XFS filesystem.
final class XFSOpenedFile: OpenedFile {
    private let system: XFSFileSystem
    private let entry: YalHandle
    private let path: String

    init(system: XFSFileSystem, entry: YalHandle, path: String) {
        self.system = system
        self.entry = entry
        self.path = path
    }

    deinit { system.free(entry) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        var error: YalHandle?
        let n = libfsxfs_file_entry_read_buffer_at_offset(entry, base.assumingMemoryBound(to: UInt8.self), buffer.count,
                                                          off64_t(offset), &error)
        guard n >= 0 else { throw FileRestoreError.unreadable(path: path, reason: system.reason(&error)) }
        return n
    }
}

/// What libyal's headers make of every handle type (`typedef intptr_t libfsxfs_volume_t`).
typealias YalHandle = UnsafeMutablePointer<Int>

struct XFSError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

private func xfsReadAt(_ context: UnsafeMutableRawPointer?, _ buffer: UnsafeMutablePointer<UInt8>?, _ size: Int, _ offset: UInt64) -> Int {
    guard let context, let buffer else { return -1 }
    let box = Unmanaged<XFSFileSystem.ReaderBox>.fromOpaque(context).takeUnretainedValue()
    do {
        try box.reader.read(into: UnsafeMutableRawBufferPointer(start: buffer, count: size), at: offset)
        return size
    } catch {
        box.lastError = "\(error)"
        return -1
    }
}
