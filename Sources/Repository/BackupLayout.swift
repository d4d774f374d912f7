import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Where a backup's files live in a repository:
/// `<repo>/vms/<vm-key>/<backup_id>/{manifest.json,disk-N.qcow2}`, written
/// first under `<backup_id>.partial/` and renamed into place when complete.
public struct BackupLayout: Sendable {
    public let repositoryRoot: String
    public let vmKey: String

    /// The repository's folder of VM folders.
    static let vmsFolder = "vms"
    /// A backup being written: `<backup_id>.partial/`.
    static let partialSuffix = ".partial"
    /// A backup folder renamed aside to be removed.
    static let deletingSuffix = ".deleting"
    /// A merged image being written beside the one it replaces.
    static let mergingSuffix = ".merging"

    public init(repositoryRoot: String, vmKey: String) {
        self.repositoryRoot = repositoryRoot
        self.vmKey = vmKey
    }

    /// The layout of a VM's backups, its folder named by `vmKey(for:)`.
    public init(repositoryRoot: String, vmName: String) {
        self.init(repositoryRoot: repositoryRoot, vmKey: Self.vmKey(for: vmName))
    }

    /// A folder name for a VM: its name with anything but letters, digits,
    /// `-`, `_` and `.` replaced, never `.` or `..`.
    public static func vmKey(for name: String) -> String {
        let mapped = String(name.unicodeScalars.map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(Character(scalar)) || "-_.".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        })
        return mapped.allSatisfy({ $0 == "." }) ? "_" + mapped : mapped
    }

    public static func diskFileName(index: Int) -> String { "disk-\(index).qcow2" }

    /// The highest disk index a backup may hold.
    public static let maxDiskIndex = 255

    /// A name that is one path component: not empty, no `/` or NUL, not `.`
    /// or `..`, at most 255 bytes. Backup ids read from a repository must be.
    public static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 255 && name != "." && name != ".."
            && !name.utf8.contains(UInt8(ascii: "/")) && !name.utf8.contains(0)
    }

    /// Whether `name` is a backing file name as `backingFileName` writes it:
    /// the same disk of another backup of the VM.
    public static func isBackingFileName(_ name: String, diskIndex: Int) -> Bool {
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return parts.count == 3 && parts[0] == ".." && isPlainName(String(parts[1])) && parts[2] == diskFileName(index: diskIndex)
    }

    public var vmDirectory: String { repositoryRoot + "/" + Self.vmsFolder + "/" + vmKey }
    /// The folder all images of a chain lie in (the VM's folder), from the
    /// path of one image in it (`<vm folder>/<backup_id>/disk-N.qcow2`).
    /// Readers refuse a backing file outside it: an image's header names its
    /// backing file, and a tampered one must not reach other files.
    public static func chainFolder(ofImage path: String) -> String {
        URL(fileURLWithPath: path).deletingLastPathComponent().deletingLastPathComponent().path
    }

    public func partialDirectory(_ backupID: String) -> String { vmDirectory + "/" + backupID + Self.partialSuffix }

    /// Where a merge writes the image that will replace `image` (renamed over it once complete).
    public static func mergeOutput(replacing image: String) -> String { image + mergingSuffix }
    public func backupDirectory(_ backupID: String) -> String { vmDirectory + "/" + backupID }

    /// The backing file name an incremental disk stores: relative, so the
    /// repository can move or be mounted elsewhere.
    public static func backingFileName(parentID: String, diskIndex: Int) -> String {
        "../" + parentID + "/" + diskFileName(index: diskIndex)
    }

    /// Makes the partial folder of a new backup. One that exists belongs to
    /// a live or crashed job; it is not reused.
    public func createPartial(_ backupID: String) throws -> String {
        try FileManager.default.createDirectory(atPath: vmDirectory, withIntermediateDirectories: true)
        let partial = partialDirectory(backupID)
        guard mkdir(partial, 0o755) == 0 else {
            throw RepositoryError.io("cannot create \(partial): \(String(cString: strerror(errno)))")
        }
        return partial
    }

    /// Commit by rename: every file in the partial folder is fsynced, the
    /// manifest written durably, the folder renamed to its final name and the
    /// VM folder fsynced. Before the rename nothing looks like a backup.
    public func commit(_ manifest: BackupManifest) throws -> String {
        let partial = partialDirectory(manifest.backupId)
        for name in try FileManager.default.contentsOfDirectory(atPath: partial) {
            let fd = open(partial + "/" + name, O_RDONLY)
            guard fd >= 0 else { throw RepositoryError.io("cannot open \(partial)/\(name)") }
            defer { close(fd) }
            guard fsync(fd) == 0 else { throw RepositoryError.io("fsync of \(partial)/\(name) failed") }
        }
        try DurableFile.write(try manifest.encoded(), to: partial + "/" + BackupManifest.fileName)
        let final = backupDirectory(manifest.backupId)
        guard !FileManager.default.fileExists(atPath: final) else {
            throw RepositoryError.io("\(final) already exists")
        }
        try DurableFile.renameOrThrow(from: partial, to: final)
        try DurableFile.syncDirectory(vmDirectory)
        return final
    }

    /// Deletes a committed backup folder: renamed aside first, so a crash
    /// mid-delete leaves a `.deleting` folder no one mistakes for a backup,
    /// which the next start removes.
    public static func removeBackupDirectory(_ directory: String) throws {
        guard FileManager.default.fileExists(atPath: directory) else { return }
        let doomed = directory + deletingSuffix
        try DurableFile.renameOrThrow(from: directory, to: doomed)
        try FileManager.default.removeItem(atPath: doomed)
    }

    /// Removes a partial folder and everything in it.
    public func discardPartial(_ backupID: String) {
        try? FileManager.default.removeItem(atPath: partialDirectory(backupID))
    }
}
