import CTSK
import Foundation

/// One filesystem libtsk opened inside an image. Not thread-safe: the
/// browser that owns it calls it under its lock only.
final class TSKFileSystem: BrowsedFileSystem {
    let info: UnsafeMutablePointer<TSK_FS_INFO>
    let type: String
    let label: String?
    /// The image it reads (kept open as long as the filesystem).
    let image: TSKImage

    init(info: UnsafeMutablePointer<TSK_FS_INFO>, image: TSKImage) {
        self.info = info
        self.image = image
        type = tsk_fs_type_toname(info.pointee.ftype).map { String(cString: $0) } ?? "unknown"
        label = TSKFileSystem.readLabel(info, image: image)
    }

    deinit { tsk_fs_close(info) }

    /// The filesystem libtsk finds on all of `image`, or nil.
    static func open(wholeImage image: TSKImage) -> TSKFileSystem? {
        tsk_error_reset()
        guard let fs = tsk_fs_open_img(image.info, 0, TSK_FS_TYPE_DETECT) else { return nil }
        return TSKFileSystem(info: fs, image: image)
    }

    var rootInode: UInt64 { UInt64(info.pointee.root_inum) }
    private var isNTFS: Bool { info.pointee.ftype.rawValue & TSK_FS_TYPE_NTFS_DETECT.rawValue != 0 }
    private var isFAT: Bool { info.pointee.ftype.rawValue & TSK_FS_TYPE_FAT_DETECT.rawValue != 0 }
    /// libtsk lists a FAT volume label as a file of the root named so.
    private static let fatLabelSuffix = Array(" (Volume Label Entry)".utf8CString.dropLast())

    /// A directory's visible, allocated entries (unsorted). Hidden: `.` and
    /// `..`, deleted names, the virtual files libtsk adds ($OrphanFiles, $MBR,
    /// $FAT1 …) and NTFS's own metadata files ($MFT … $Extend, MFT entries 0-15).
    func list(directory inode: UInt64, volume: Int, displayPath: [String]) throws -> [RestoreEntry] {
        let path = RestorePath.join(displayPath)
        tsk_error_reset()
        guard let dir = tsk_fs_dir_open_meta(info, TSK_INUM_T(inode)) else {
            throw FileRestoreError.unreadable(path: path, reason: image.takeError())
        }
        defer { tsk_fs_dir_close(dir) }
        var entries: [RestoreEntry] = []
        let count = tsk_fs_dir_getsize(dir)
        entries.reserveCapacity(count)
        for index in 0..<count {
            guard let name = tsk_fs_dir_get_name(dir, index), isVisible(name.pointee) else { continue }
            guard let file = tsk_fs_dir_get(dir, index) else { continue }
            defer { tsk_fs_file_close(file) }
            guard let entry = makeEntry(file, volume: volume, parent: displayPath) else { continue }
            entries.append(entry)
        }
        return entries
    }

    /// The visible entry called `name` in a directory, or nil. Names are
    /// compared byte for byte, as the listing showed them.
    func lookup(_ name: String, in directory: UInt64, volume: Int, parent: [String]) throws -> RestoreEntry? {
        tsk_error_reset()
        guard let dir = tsk_fs_dir_open_meta(info, TSK_INUM_T(directory)) else {
            throw FileRestoreError.unreadable(path: RestorePath.join(parent), reason: image.takeError())
        }
        defer { tsk_fs_dir_close(dir) }
        for index in 0..<tsk_fs_dir_getsize(dir) {
            guard let entryName = tsk_fs_dir_get_name(dir, index), isVisible(entryName.pointee),
                  let cName = entryName.pointee.name, String(cString: cName) == name
            else { continue }
            guard let file = tsk_fs_dir_get(dir, index) else {
                throw FileRestoreError.unreadable(path: RestorePath.join(parent + [name]), reason: image.takeError())
            }
            defer { tsk_fs_file_close(file) }
            return makeEntry(file, volume: volume, parent: parent)
        }
        return nil
    }

    private func isVisible(_ name: TSK_FS_NAME) -> Bool {
        guard name.flags.rawValue & TSK_FS_NAME_FLAG_ALLOC.rawValue != 0,
              name.type != TSK_FS_NAME_TYPE_VIRT, name.type != TSK_FS_NAME_TYPE_VIRT_DIR,
              let cName = name.name
        else { return false }
        if isNTFS && name.meta_addr < 16 { return false }
        if isFAT && name.par_addr == info.pointee.root_inum && Self.hasSuffix(cName, Self.fatLabelSuffix) { return false }
        // "." and ".." without building a String for every name.
        if cName[0] == 0x2e && (cName[1] == 0 || (cName[1] == 0x2e && cName[2] == 0)) { return false }
        return true
    }

    private static func hasSuffix(_ text: UnsafePointer<CChar>, _ suffix: [CChar]) -> Bool {
        let length = strlen(text)
        guard length >= suffix.count else { return false }
        return memcmp(text + (length - suffix.count), suffix, suffix.count) == 0
    }

    private func makeEntry(_ file: UnsafeMutablePointer<TSK_FS_FILE>, volume: Int, parent: [String]) -> RestoreEntry? {
        guard let name = file.pointee.name, let cName = name.pointee.name else { return nil }
        let text = String(cString: cName)
        let meta = file.pointee.meta?.pointee
        let kind: RestoreEntry.Kind
        switch meta?.type ?? TSK_FS_META_TYPE_UNDEF {
        case TSK_FS_META_TYPE_REG: kind = .file
        case TSK_FS_META_TYPE_DIR: kind = .directory
        case TSK_FS_META_TYPE_LNK: kind = .symlink
        case TSK_FS_META_TYPE_VIRT, TSK_FS_META_TYPE_VIRT_DIR: return nil
        case TSK_FS_META_TYPE_UNDEF:
            // No metadata loaded: trust the directory entry's type.
            switch name.pointee.type {
            case TSK_FS_NAME_TYPE_REG: kind = .file
            case TSK_FS_NAME_TYPE_DIR: kind = .directory
            case TSK_FS_NAME_TYPE_LNK: kind = .symlink
            default: kind = .other
            }
        default: kind = .other
        }
        let modified = meta.flatMap { meta in
            meta.mtime == 0 && meta.mtime_nano == 0 ? nil
                : Date(timeIntervalSince1970: TimeInterval(meta.mtime) + TimeInterval(meta.mtime_nano) / 1e9)
        }
        return RestoreEntry(
            name: text, path: RestorePath.join(parent + [text]), kind: kind,
            size: kind == .directory ? 0 : UInt64(max(0, meta?.size ?? 0)),
            mode: UInt32(meta?.mode.rawValue ?? 0) & 0o7777,
            modified: modified,
            linkTarget: kind == .symlink ? meta?.link.map { String(cString: $0) } : nil,
            volume: volume, inode: UInt64(name.pointee.meta_addr))
    }

    func open(_ entry: RestoreEntry) throws -> any OpenedFile {
        tsk_error_reset()
        guard let file = tsk_fs_file_open_meta(info, nil, TSK_INUM_T(entry.inode)) else {
            throw FileRestoreError.unreadable(path: entry.path, reason: image.takeError())
        }
        return TSKOpenedFile(file: file, system: self, path: entry.path, size: entry.size)
    }

    // MARK: volume labels

    /// The name the user gave the filesystem, which libtsk does not expose:
    /// read from the ext superblock, the FAT boot sector or NTFS's $Volume.
    private static func readLabel(_ info: UnsafeMutablePointer<TSK_FS_INFO>, image: TSKImage) -> String? {
        let type = info.pointee.ftype.rawValue
        let base = UInt64(info.pointee.offset)
        var raw: [UInt8]?
        if type & TSK_FS_TYPE_EXT_DETECT.rawValue != 0 {
            raw = image.read(count: 16, at: base + 1024 + 0x78)
        } else if type & TSK_FS_TYPE_FAT32.rawValue != 0 {
            raw = image.read(count: 11, at: base + 0x47)
        } else if type & TSK_FS_TYPE_FAT_DETECT.rawValue != 0 {
            raw = image.read(count: 11, at: base + 0x2b)
        } else if type & TSK_FS_TYPE_NTFS_DETECT.rawValue != 0 {
            return ntfsVolumeName(info)
        }
        guard let raw else { return nil }
        let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        return text.isEmpty || text == "NO NAME" ? nil : text
    }

    private static func ntfsVolumeName(_ info: UnsafeMutablePointer<TSK_FS_INFO>) -> String? {
        guard let volume = tsk_fs_file_open_meta(info, nil, 3) else { tsk_error_reset(); return nil }
        defer { tsk_fs_file_close(volume) }
        var buffer = [UInt8](repeating: 0, count: 256)
        let flags = TSK_FS_FILE_READ_FLAG_ENUM(rawValue: TSK_FS_FILE_READ_FLAG_NOID.rawValue)
        let n = buffer.withUnsafeMutableBytes { bytes in
            tsk_fs_file_read_type(volume, TSK_FS_ATTR_TYPE_NTFS_VNAME, 0, 0,
                                  bytes.baseAddress?.assumingMemoryBound(to: CChar.self), bytes.count, flags)
        }
        tsk_error_reset()
        guard n > 1 else { return nil }
        let units = stride(from: 0, to: n - 1, by: 2).map { UInt16(buffer[$0]) | UInt16(buffer[$0 + 1]) << 8 }
        let text = String(decoding: units, as: UTF16.self)
        return text.isEmpty ? nil : text
    }
}

/// A file libtsk opened; closed when released.
final class TSKOpenedFile: OpenedFile {
    private let file: UnsafeMutablePointer<TSK_FS_FILE>
    /// Keeps the filesystem (and image) open while the file is.
    private let system: TSKFileSystem
    private let path: String
    private let size: UInt64

    init(file: UnsafeMutablePointer<TSK_FS_FILE>, system: TSKFileSystem, path: String, size: UInt64) {
        self.file = file
        self.system = system
        self.path = path
        self.size = size
    }

    deinit { tsk_fs_file_close(file) }

    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) throws -> Int {
        guard offset < size, let base = buffer.baseAddress else { return 0 }
        let count = Int(min(UInt64(buffer.count), size - offset))
        tsk_error_reset()
        let n = tsk_fs_file_read(file, TSK_OFF_T(offset), base.assumingMemoryBound(to: CChar.self), count, TSK_FS_FILE_READ_FLAG_NONE)
        guard n == count else {
            throw FileRestoreError.unreadable(path: path, reason: n < 0 ? system.image.takeError()
                : "libtsk read \(n) of \(count) bytes at offset \(offset)")
        }
        return n
    }
}
