import CTSK
import DiskImage
import Foundation
import Synchronization

/// A backup disk opened for browsing: its partitions, LVM2 logical volumes
/// and filesystems read in user space (libtsk, libfsxfs, our LVM2 reader)
/// over the QCOW2 chain, read-only by construction. The libraries' handles
/// are not thread-safe, so every call into them runs under one lock;
/// callers run these blocking methods off the event loops (in the hub: in
/// a worker process, see `FileRestoreWorker`).
public final class RestoreBrowser: Sendable {
    public let volumes: [RestoreVolume]
    /// True when the root lists volumes as folders (several of them);
    /// false when it shows the single filesystem's root directly.
    public let partitionsAsFolders: Bool
    private let lock = Mutex(())
    private let state: State

    /// The library handles, touched only under `lock`. Filesystems close
    /// before the partition table they were found in.
    final class State: @unchecked Sendable {
        let image: TSKImage
        var volumeSystem: UnsafeMutablePointer<TSK_VS_INFO>?
        /// Indexed like `volumes`; nil for an unsupported one.
        var fileSystems: [(any BrowsedFileSystem)?] = []

        init(image: TSKImage) { self.image = image }

        deinit {
            fileSystems.removeAll()
            if let volumeSystem { tsk_vs_close(volumeSystem) }
        }
    }

    /// A volume found: a partition (named by its number in the table) or a logical volume.
    private struct Found {
        var name: String
        var offset: UInt64
        var size: UInt64
        var fileSystem: (any BrowsedFileSystem)?
        var label: String?
        var reason: String?
    }

    /// - Parameter companions: the other disks of the same restore point,
    ///   searched for the physical volumes of an LVM2 volume group that
    ///   spans several disks.
    /// - Throws: `FileRestoreError.noFilesystem` when nothing on the disk is readable.
    public init(image reader: any DiskImageReader, companions: [any DiskImageReader] = []) throws {
        let state = State(image: try TSKImage(reader: reader))
        var found: [Found] = []
        var physicalVolumes: [(position: Int, pv: LVMPhysicalVolume)] = []
        tsk_error_reset()
        if let vs = tsk_vs_open(state.image.info, 0, TSK_VS_TYPE_DETECT) {
            state.volumeSystem = vs
            let isGPT = vs.pointee.vstype == TSK_VS_TYPE_GPT
            let sector = UInt64(vs.pointee.block_size)
            for (position, part) in Self.allocatedPartitions(vs).enumerated() {
                let number = position + 1
                let gptName = isGPT ? part.pointee.desc.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } : nil
                guard let (offset, size) = Self.extent(start: part.pointee.start, length: part.pointee.len, sector: sector, disk: reader) else {
                    // A partition table (the guest's) can place a partition anywhere.
                    found.append(Found(name: RestoreVolume.folderName(index: number, label: gptName, size: 0), offset: 0, size: 0,
                                       fileSystem: nil, label: gptName, reason: "the partition table places it outside the disk"))
                    continue
                }
                tsk_error_reset()
                if let fs = tsk_fs_open_vol(part, TSK_FS_TYPE_DETECT) {
                    let fileSystem = TSKFileSystem(info: fs, image: state.image)
                    let label = gptName ?? fileSystem.label
                    found.append(Found(name: RestoreVolume.folderName(index: number, label: label, size: size), offset: offset, size: size,
                                       fileSystem: fileSystem, label: label))
                    continue
                }
                let tskReason = state.image.takeError()
                let slice = SliceReader(base: reader, offset: offset, size: size)
                var volume = Self.other(on: slice, tskReason: tskReason, physicalVolumes: &physicalVolumes, position: found.count)
                volume.offset = offset
                volume.label = volume.label ?? gptName
                volume.name = RestoreVolume.folderName(index: number, label: volume.label, size: size)
                found.append(volume)
            }
        } else {
            _ = state.image.takeError()
        }
        // No partition table (or one with nothing in it): a bare filesystem or physical volume.
        if found.isEmpty {
            let size = reader.virtualSize
            if let fileSystem = TSKFileSystem.open(wholeImage: state.image) {
                found.append(Found(name: RestoreVolume.folderName(index: 1, label: fileSystem.label, size: size), offset: 0,
                                   size: size, fileSystem: fileSystem, label: fileSystem.label))
            } else {
                let tskReason = state.image.takeError()
                var volume = Self.other(on: reader, tskReason: tskReason, physicalVolumes: &physicalVolumes, position: 0)
                guard volume.fileSystem != nil || !physicalVolumes.isEmpty else {
                    throw FileRestoreError.noFilesystem(reason: volume.reason ?? tskReason)
                }
                volume.name = RestoreVolume.folderName(index: 1, label: volume.label, size: size)
                found.append(volume)
            }
        }
        found = Self.replacingPhysicalVolumes(in: found, physicalVolumes, companions: companions)
        var volumes: [RestoreVolume] = []
        for (index, volume) in found.enumerated() {
            volumes.append(RestoreVolume(
                index: index + 1, name: volume.name, offsetBytes: volume.offset, sizeBytes: volume.size,
                filesystemType: volume.fileSystem?.type ?? "unsupported", label: volume.label,
                unsupportedReason: volume.fileSystem == nil ? volume.reason ?? "unknown" : nil))
            state.fileSystems.append(volume.fileSystem)
        }
        self.volumes = volumes
        partitionsAsFolders = volumes.count > 1
        self.state = state
    }

    /// What a partition (or disk) libtsk cannot read holds: an LVM2 physical
    /// volume (noted, assembled later), XFS, btrfs, or nothing Sendense reads.
    private static func other(on reader: any DiskImageReader, tskReason: String,
                              physicalVolumes: inout [(position: Int, pv: LVMPhysicalVolume)], position: Int) -> Found {
        var volume = Found(name: "", offset: 0, size: reader.virtualSize, fileSystem: nil, label: nil, reason: tskReason)
        do {
            if let pv = try LVMPhysicalVolume.find(on: reader) {
                physicalVolumes.append((position, pv))
                volume.reason = "an LVM2 physical volume whose volume group could not be read"
                return volume
            }
            if let other = try otherFileSystem(on: reader) {
                volume.fileSystem = other
                volume.label = other.label
            }
        } catch {
            volume.reason = "\(error)"
        }
        return volume
    }

    /// Each volume group with a physical volume on this disk shows as its
    /// logical volumes, in place of that physical volume's partition (the
    /// group's other PVs may be on `companions`).
    private static func replacingPhysicalVolumes(in found: [Found], _ physicalVolumes: [(position: Int, pv: LVMPhysicalVolume)],
                                                 companions: [any DiskImageReader]) -> [Found] {
        guard !physicalVolumes.isEmpty else { return found }
        var available: [String: LVMPhysicalVolume] = [:]
        for (_, pv) in physicalVolumes { available[pv.uuid] = pv }
        for companion in companions {
            for pv in findPhysicalVolumes(on: companion) { available[pv.uuid] = available[pv.uuid] ?? pv }
        }
        var replacements: [Int: [Found]] = [:]
        var groups: Set<String> = []
        for (position, pv) in physicalVolumes {
            guard let metadata = pv.metadata else { continue }
            do {
                let group = try LVMVolumeGroup(metadata: metadata, available: available)
                // A group with PVs on this disk twice is shown once.
                guard groups.insert(group.name).inserted else { replacements[position] = []; continue }
                replacements[position] = group.logicalVolumes.map { logicalVolume in
                    let folder = group.name + "-" + logicalVolume.name
                    var volume = Found(name: RestoreVolume.folderName(label: folder, size: logicalVolume.size), offset: 0,
                                       size: logicalVolume.size, fileSystem: nil, label: nil, reason: nil)
                    switch logicalVolume.reader {
                    case .failure(let error):
                        volume.reason = "\(error)"
                    case .success(let reader):
                        (volume.fileSystem, volume.reason) = fileSystem(on: reader)
                        volume.label = volume.fileSystem?.label
                    }
                    return volume
                }
            } catch {
                var broken = found[position]
                broken.reason = "an LVM2 physical volume: \(error)"
                replacements[position] = [broken]
            }
        }
        var result: [Found] = []
        for (position, volume) in found.enumerated() {
            result += replacements[position] ?? [volume]
        }
        return result
    }

    /// The filesystems libtsk does not read: XFS (libfsxfs) and btrfs (ours).
    private static func otherFileSystem(on reader: any DiskImageReader) throws -> (any BrowsedFileSystem)? {
        if let xfs = try XFSFileSystem.open(reader) { return xfs }
        return try BtrfsFileSystem.open(reader)
    }

    /// The filesystem on a logical volume: libtsk's kinds, XFS or btrfs.
    private static func fileSystem(on reader: any DiskImageReader) -> ((any BrowsedFileSystem)?, String?) {
        do {
            let image = try TSKImage(reader: reader)
            if let fileSystem = TSKFileSystem.open(wholeImage: image) { return (fileSystem, nil) }
            let tskReason = image.takeError()
            if let other = try otherFileSystem(on: reader) { return (other, nil) }
            return (nil, tskReason)
        } catch {
            return (nil, "\(error)")
        }
    }

    /// The partitions of a table that hold something (not free space or the
    /// table itself), in the table's order: the order their numbers show.
    private static func allocatedPartitions(_ vs: UnsafeMutablePointer<TSK_VS_INFO>) -> [UnsafePointer<TSK_VS_PART_INFO>] {
        (0..<vs.pointee.part_count).compactMap { address in
            guard let part = tsk_vs_part_get(vs, address), part.pointee.flags.rawValue & TSK_VS_PART_FLAG_ALLOC.rawValue != 0 else { return nil }
            return part
        }
    }

    /// A partition's bytes on the disk, cut to the disk's end; nil when the
    /// table puts its start beyond the disk (or its numbers overflow).
    private static func extent(start: TSK_DADDR_T, length: TSK_DADDR_T, sector: UInt64,
                               disk: any DiskImageReader) -> (offset: UInt64, size: UInt64)? {
        let (offset, startOverflow) = UInt64(start).multipliedReportingOverflow(by: sector)
        let (size, lengthOverflow) = UInt64(length).multipliedReportingOverflow(by: sector)
        guard !startOverflow, offset < disk.virtualSize else { return nil }
        return (offset, lengthOverflow ? disk.virtualSize - offset : min(size, disk.virtualSize - offset))
    }

    /// The physical volumes on a disk: on its partitions, or the whole disk.
    private static func findPhysicalVolumes(on reader: any DiskImageReader) -> [LVMPhysicalVolume] {
        guard let image = try? TSKImage(reader: reader) else { return [] }
        var found: [LVMPhysicalVolume] = []
        tsk_error_reset()
        if let vs = tsk_vs_open(image.info, 0, TSK_VS_TYPE_DETECT) {
            defer { tsk_vs_close(vs) }
            let sector = UInt64(vs.pointee.block_size)
            for part in allocatedPartitions(vs) {
                guard let (offset, size) = extent(start: part.pointee.start, length: part.pointee.len, sector: sector, disk: reader) else { continue }
                if let pv = try? LVMPhysicalVolume.find(on: SliceReader(base: reader, offset: offset, size: size)) { found.append(pv) }
            }
        }
        tsk_error_reset()
        if found.isEmpty, let pv = try? LVMPhysicalVolume.find(on: reader) { found.append(pv) }
        return found
    }

    /// `ntfs` for a disk of one filesystem type, `mixed` when partitions differ.
    public var filesystemType: String {
        let types = Set(volumes.map(\.filesystemType))
        return types.count == 1 ? types.first ?? "unsupported" : "mixed"
    }

    // MARK: browsing

    /// The entries of the folder at `path`, folders first, sorted by name.
    public func list(_ path: String) throws -> [RestoreEntry] {
        let names = try RestorePath.components(path)
        if partitionsAsFolders && names.isEmpty {
            return volumes.map { volume in
                RestoreEntry(name: volume.name, path: "/" + volume.name, kind: .directory, size: 0, mode: 0o755,
                             modified: nil, linkTarget: nil, volume: volume.index - 1, inode: 0)
            }
        }
        return try withState { state in
            let (volume, inside, prefix) = try locateVolume(names)
            guard let fs = state.fileSystems[volume] else { throw unsupported(volume) }
            let directory = try resolve(inside, prefix: prefix, volume: volume, in: fs)
            if let directory {
                guard directory.kind == .directory else {
                    if directory.kind == .symlink {
                        throw FileRestoreError.symbolicLink(path: directory.path, target: directory.linkTarget ?? "?")
                    }
                    throw FileRestoreError.notADirectory(path: RestorePath.join(names))
                }
            }
            return try fs.list(directory: directory?.inode ?? fs.rootInode, volume: volume, displayPath: names)
        }.sortedForDisplay()
    }

    /// The entry at `path`; the root and partition folders are directories.
    public func entry(at path: String) throws -> RestoreEntry {
        let names = try RestorePath.components(path)
        if names.isEmpty || (partitionsAsFolders && names.count == 1) {
            let volume = names.isEmpty ? 0 : try locateVolume(names).volume
            return RestoreEntry(name: names.last ?? "", path: RestorePath.join(names), kind: .directory, size: 0,
                                mode: 0o755, modified: nil, linkTarget: nil, volume: volume, inode: 0)
        }
        return try withState { state in
            let (volume, inside, prefix) = try locateVolume(names)
            guard let fs = state.fileSystems[volume] else { throw unsupported(volume) }
            guard let entry = try resolve(inside, prefix: prefix, volume: volume, in: fs) else {
                throw FileRestoreError.notFound(path: RestorePath.join(names))
            }
            return entry
        }
    }

    /// Opens a regular file for reading; folders and links are refused.
    public func openFile(_ entry: RestoreEntry) throws -> RestoreFile {
        switch entry.kind {
        case .directory: throw FileRestoreError.isADirectory(path: entry.path)
        case .symlink: throw FileRestoreError.symbolicLink(path: entry.path, target: entry.linkTarget ?? "?")
        case .file, .other: break
        }
        let opened = try withState { state in
            guard entry.volume >= 0, entry.volume < state.fileSystems.count, let fs = state.fileSystems[entry.volume] else {
                throw unsupported(entry.volume)
            }
            return try fs.open(entry)
        }
        return RestoreFile(browser: self, entry: entry, opened: opened)
    }

    /// Runs `body` with the libtsk state; for `RestoreFile`.
    func withState<T>(_ body: (State) throws -> T) rethrows -> T {
        try lock.withLock { _ in try body(state) }
    }

    // MARK: path resolution

    /// Which volume a display path names, the names inside it, and the
    /// display prefix of its root.
    private func locateVolume(_ names: [String]) throws -> (volume: Int, inside: ArraySlice<String>, prefix: [String]) {
        guard partitionsAsFolders else { return (0, names[...], []) }
        guard let first = names.first, let volume = volumes.firstIndex(where: { $0.name == first }) else {
            throw FileRestoreError.notFound(path: RestorePath.join(names))
        }
        return (volume, names.dropFirst(), [first])
    }

    /// Walks `names` from the root one name at a time. Links are never
    /// followed: a link in the middle of a path is an error naming it.
    /// Answers nil for the filesystem's root.
    private func resolve(_ names: ArraySlice<String>, prefix: [String], volume: Int, in fs: any BrowsedFileSystem) throws -> RestoreEntry? {
        var current: RestoreEntry?
        var walked = prefix
        for name in names {
            if let current, current.kind != .directory {
                if current.kind == .symlink {
                    throw FileRestoreError.symbolicLink(path: current.path, target: current.linkTarget ?? "?")
                }
                throw FileRestoreError.notADirectory(path: current.path)
            }
            guard let next = try fs.lookup(name, in: current?.inode ?? fs.rootInode, volume: volume, parent: walked)
            else { throw FileRestoreError.notFound(path: RestorePath.join(walked + [name])) }
            walked.append(name)
            current = next
        }
        return current
    }

    private func unsupported(_ volume: Int) -> FileRestoreError {
        guard volume >= 0, volume < volumes.count else { return .notFound(path: "volume \(volume)") }
        return .unsupportedFilesystem(partition: volumes[volume].name, reason: volumes[volume].unsupportedReason ?? "unknown")
    }
}
