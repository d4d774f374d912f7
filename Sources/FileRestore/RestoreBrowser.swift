import CTSK
import DiskImage
import Foundation
import Synchronization

/// A backup disk opened for browsing: its partitions and filesystems read
/// in user space by libtsk over the QCOW2 chain, read-only by construction.
/// libtsk handles are not thread-safe, so every call into them runs under
/// one lock; callers run these blocking methods off the event loops.
public final class RestoreBrowser: Sendable {
    public let volumes: [RestoreVolume]
    /// True when the root lists partitions as folders (several partitions);
    /// false when it shows the single filesystem's root directly.
    public let partitionsAsFolders: Bool
    private let lock = Mutex(())
    private let tsk: State

    /// The libtsk handles, touched only under `lock`. Closed in reverse
    /// order of opening when the last reference (browser or open file) goes.
    final class State: @unchecked Sendable {
        let image: TSKImage
        var volumeSystem: UnsafeMutablePointer<TSK_VS_INFO>?
        /// Indexed like `volumes`; nil for an unsupported one.
        var fileSystems: [TSKFileSystem?] = []

        init(image: TSKImage) { self.image = image }

        deinit {
            fileSystems.removeAll()
            if let volumeSystem { tsk_vs_close(volumeSystem) }
        }
    }

    /// - Throws: `FileRestoreError.noFilesystem` when nothing on the disk is readable.
    public init(image reader: any DiskImageReader) throws {
        let state = State(image: try TSKImage(reader: reader))
        var volumes: [RestoreVolume] = []
        tsk_error_reset()
        if let vs = tsk_vs_open(state.image.info, 0, TSK_VS_TYPE_DETECT) {
            state.volumeSystem = vs
            let isGPT = vs.pointee.vstype == TSK_VS_TYPE_GPT
            let sector = UInt64(vs.pointee.block_size)
            var number = 0
            for address in 0..<vs.pointee.part_count {
                guard let part = tsk_vs_part_get(vs, address),
                      part.pointee.flags.rawValue & TSK_VS_PART_FLAG_ALLOC.rawValue != 0
                else { continue }
                number += 1
                let size = UInt64(part.pointee.len) * sector
                let gptName = isGPT ? part.pointee.desc.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } : nil
                tsk_error_reset()
                if let fs = tsk_fs_open_vol(part, TSK_FS_TYPE_DETECT) {
                    let fileSystem = TSKFileSystem(info: fs, image: state.image)
                    let label = gptName ?? fileSystem.label
                    state.fileSystems.append(fileSystem)
                    volumes.append(RestoreVolume(
                        index: number, name: RestoreVolume.folderName(index: number, label: label, size: size),
                        offsetBytes: UInt64(part.pointee.start) * sector, sizeBytes: size,
                        filesystemType: fileSystem.type, label: label))
                } else {
                    state.fileSystems.append(nil)
                    volumes.append(RestoreVolume(
                        index: number, name: RestoreVolume.folderName(index: number, label: gptName, size: size),
                        offsetBytes: UInt64(part.pointee.start) * sector, sizeBytes: size,
                        filesystemType: "unsupported", label: gptName, unsupportedReason: state.image.takeError()))
                }
            }
        } else {
            _ = state.image.takeError()
        }
        // No partition table (or one with nothing in it): a bare filesystem.
        if volumes.isEmpty {
            guard let fs = tsk_fs_open_img(state.image.info, 0, TSK_FS_TYPE_DETECT) else {
                throw FileRestoreError.noFilesystem(reason: state.image.takeError())
            }
            let fileSystem = TSKFileSystem(info: fs, image: state.image)
            state.fileSystems = [fileSystem]
            volumes = [RestoreVolume(
                index: 1, name: RestoreVolume.folderName(index: 1, label: fileSystem.label, size: reader.virtualSize),
                offsetBytes: 0, sizeBytes: reader.virtualSize, filesystemType: fileSystem.type, label: fileSystem.label)]
        }
        self.volumes = volumes
        partitionsAsFolders = volumes.count > 1
        tsk = state
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
            let directory = try resolve(inside, prefix: prefix, volume: volume, in: fs, image: state.image)
            if let directory {
                guard directory.kind == .directory else {
                    if directory.kind == .symlink {
                        throw FileRestoreError.symbolicLink(path: directory.path, target: directory.linkTarget ?? "?")
                    }
                    throw FileRestoreError.notADirectory(path: RestorePath.join(names))
                }
            }
            return try fs.list(directory: directory?.inode ?? fs.rootInode, volume: volume,
                               displayPath: names, image: state.image)
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
            guard let entry = try resolve(inside, prefix: prefix, volume: volume, in: fs, image: state.image) else {
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
        let handle = try withState { state in
            guard let fs = state.fileSystems[entry.volume] else { throw unsupported(entry.volume) }
            return TSKFileHandle(pointer: try fs.open(entry, image: state.image))
        }
        return RestoreFile(browser: self, entry: entry, handle: handle)
    }

    /// Runs `body` with the libtsk state; for `RestoreFile`.
    func withState<T>(_ body: (State) throws -> T) rethrows -> T {
        try lock.withLock { _ in try body(tsk) }
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
    private func resolve(_ names: ArraySlice<String>, prefix: [String], volume: Int, in fs: TSKFileSystem,
                         image: TSKImage) throws -> RestoreEntry? {
        var current: RestoreEntry?
        var walked = prefix
        for name in names {
            if let current, current.kind != .directory {
                if current.kind == .symlink {
                    throw FileRestoreError.symbolicLink(path: current.path, target: current.linkTarget ?? "?")
                }
                throw FileRestoreError.notADirectory(path: current.path)
            }
            guard let next = try fs.lookup(name, in: current?.inode ?? fs.rootInode, volume: volume,
                                           parent: walked, image: image)
            else { throw FileRestoreError.notFound(path: RestorePath.join(walked + [name])) }
            walked.append(name)
            current = next
        }
        return current
    }

    private func unsupported(_ volume: Int) -> FileRestoreError {
        .unsupportedFilesystem(partition: volumes[volume].name, reason: volumes[volume].unsupportedReason ?? "unknown")
    }
}

/// An open libtsk file; closed under the browser's lock when released.
final class TSKFileHandle {
    let pointer: UnsafeMutablePointer<TSK_FS_FILE>
    init(pointer: UnsafeMutablePointer<TSK_FS_FILE>) { self.pointer = pointer }
}
