import Foundation
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Turns a folder into a repository, or recognises one that already is.
public enum LocalRepository {
    /// Entries a fresh filesystem root may already hold without being "in use".
    static let ignorableEntries: Set<String> = ["lost+found"]

    /// Creates `path` (and its parents) when missing, proves it writable with a
    /// real fsynced write, and writes `repository.json` durably. A folder that
    /// already holds a repository keeps its id (re-adding it after a catalog
    /// loss finds the same backups); a non-empty folder that is not a
    /// repository is refused, so Sendense never mixes its files with others.
    public static func prepare(at path: String) throws -> RepositoryDescriptor {
        let path = try RepositoryPaths.normalize(path)
        try createDirectories(path)
        try probeWritable(path)
        let descriptorPath = path + "/" + RepositoryDescriptor.fileName
        if FileManager.default.fileExists(atPath: descriptorPath) {
            return try readDescriptor(at: path)
        }
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
        let foreign = entries.filter { !ignorableEntries.contains($0) }
        if !foreign.isEmpty {
            throw RepositoryError.foreignRepository(
                path: path, reason: "the folder is not empty and holds no \(RepositoryDescriptor.fileName)")
        }
        try createDirectories(path + "/" + BackupLayout.vmsFolder)
        let descriptor = RepositoryDescriptor()
        try DurableFile.write(try RepositoryDescriptor.encoder.encode(descriptor), to: descriptorPath)
        return descriptor
    }

    /// A folder `prepare` made a repository, and how to take that back when
    /// the catalog then refuses it.
    public struct Prepared: Sendable {
        public let descriptor: RepositoryDescriptor
        let path: String
        /// The outermost folder `prepare` created (nil: the folder existed).
        let firstCreated: String?

        /// Removes what `prepare` made in a folder that did not exist before,
        /// then the empty folders it created. rmdir never removes a folder
        /// something else has written into meanwhile.
        public func undo() {
            guard let top = firstCreated else { return }
            _ = unlink(path + "/" + RepositoryDescriptor.fileName)
            _ = rmdir(path + "/" + BackupLayout.vmsFolder)
            var current = path
            while current.hasPrefix(top), rmdir(current) == 0, current != top {
                current = (current as NSString).deletingLastPathComponent
            }
        }
    }

    /// `prepare`, remembering which folders it created.
    public static func prepareUndoably(at path: String) throws -> Prepared {
        let path = try RepositoryPaths.normalize(path)
        var candidate = path
        var firstCreated: String?
        while !candidate.isEmpty, candidate != "/", !FileManager.default.fileExists(atPath: candidate) {
            firstCreated = candidate
            candidate = (candidate as NSString).deletingLastPathComponent
        }
        return Prepared(descriptor: try prepare(at: path), path: path, firstCreated: firstCreated)
    }

    public static func readDescriptor(at path: String) throws -> RepositoryDescriptor {
        let descriptorPath = path + "/" + RepositoryDescriptor.fileName
        guard let data = FileManager.default.contents(atPath: descriptorPath) else {
            throw RepositoryError.foreignRepository(path: path, reason: "cannot read \(descriptorPath)")
        }
        do {
            let descriptor = try RepositoryDescriptor.decoder.decode(RepositoryDescriptor.self, from: data)
            guard descriptor.formatVersion <= RepositoryDescriptor.currentFormatVersion else {
                throw RepositoryError.foreignRepository(
                    path: path, reason: "format version \(descriptor.formatVersion) is newer than this hub understands")
            }
            return descriptor
        } catch let error as RepositoryError {
            throw error
        } catch {
            throw RepositoryError.foreignRepository(path: path, reason: "\(RepositoryDescriptor.fileName) is not valid: \(error)")
        }
    }

    static func createDirectories(_ path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            if !isDirectory.boolValue { throw RepositoryError.notWritable(path: path, reason: "it is a file, not a folder") }
            return
        }
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw RepositoryError.notWritable(path: path, reason: "cannot create the folder (\(describe(error)))")
        }
    }

    /// Access checks lie for root and for read-only mounts; a real write,
    /// fsync and unlink does not.
    static func probeWritable(_ path: String) throws {
        let probe = FilePath(path).appending(".sendense-write-probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            let fd = try FileDescriptor.open(probe, .writeOnly, options: [.create, .exclusiveCreate], permissions: .ownerReadWrite)
            defer { _ = unlink(probe.string) }
            try fd.closeAfter {
                _ = try fd.writeAll("sendense".utf8)
                try DurableFile.fsyncOrThrow(fd, path: probe.string)
            }
        } catch let error as RepositoryError {
            throw RepositoryError.notWritable(path: path, reason: error.description)
        } catch {
            throw RepositoryError.notWritable(path: path, reason: describe(error))
        }
    }

    private static func describe(_ error: any Error) -> String {
        if let errno = error as? Errno { return String(cString: strerror(errno.rawValue)) }
        if let cocoa = error as? CocoaError, let underlying = cocoa.underlying as? POSIXError {
            return String(cString: strerror(underlying.code.rawValue))
        }
        return "\(error)"
    }
}

extension CocoaError {
    fileprivate var underlying: (any Error)? { userInfo[NSUnderlyingErrorKey] as? any Error }
}
