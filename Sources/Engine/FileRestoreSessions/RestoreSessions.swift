import Catalog
import FileRestore
import Foundation
import Logging
import Repository
import SendenseCore

/// The open file-restore sessions: a backup disk read by a worker process of
/// its own (`FileRestoreWorker`: the guest's filesystems are parsed there,
/// confined, never in the hub), kept while it is used and closed an idle hour
/// later (or on DELETE, or when its backup is deleted). At most `maxSessions`
/// are open at once.
public actor RestoreSessions {
    public struct Session: Sendable {
        public let id: String
        public let backupID: String
        public let backupDiskID: Int64
        public let diskIndex: Int
        public let worker: FileRestoreWorker
        public let createdAt: Date
        public var lastUsed: Date
        public var expiresAt: Date
        /// Downloads in flight: a session is never closed under one.
        var streams = 0
        /// When the catalog's row last got `lastUsed`.
        var recordedUse: Date
    }

    /// How stale the catalog's `last_used_at` may be: a write for every listing or piece of a
    /// download (each an fsync) put 40 ms in listings' p99 at 200 a second (`make bench`, BENCH=api).
    /// Sessions expire by the values held here; the row says the session exists.
    static let useRecordInterval: TimeInterval = 30

    /// Why a session cannot be opened or found.
    public enum Failure: Error, Sendable {
        case unknown(String)
        case expired(String, at: Date)
        /// As many sessions are open as allowed.
        case full(max: Int)
        /// The backup's disk image cannot be opened.
        case unreadableDisk(backupID: String, diskIndex: Int, reason: String)
    }

    private let catalog: CatalogDatabase
    private let limits: RestoreSessionLimits
    private let logger: Logger
    private var sessions: [String: Session] = [:]
    /// Mounts being opened, counted against the limit while they open.
    private var opening = 0
    /// Recently expired ids, to answer "expired" rather than "unknown".
    private var expired: [String: Date] = [:]

    public init(catalog: CatalogDatabase, limits: RestoreSessionLimits, logger: Logger) {
        self.catalog = catalog
        self.limits = limits
        self.logger = logger
    }

    /// Opens a session on the disk image at `imagePath` (the point's other
    /// disks beside it, for volume groups that span disks), or answers the
    /// open session of the same backup disk (then `created` is false).
    public func mount(backupID: String, backupDiskID: Int64, diskIndex: Int, imagePath: String,
                      companionPaths: [String] = []) async throws -> (Session, created: Bool) {
        if let existing = sessions.values.first(where: { $0.backupID == backupID && $0.diskIndex == diskIndex }) {
            return (try await touch(existing.id), false)
        }
        guard sessions.count + opening < limits.maxSessions else {
            throw Failure.full(max: limits.maxSessions)
        }
        opening += 1
        defer { opening -= 1 }
        let worker: FileRestoreWorker
        do {
            let settings = limits.worker
            worker = try await BlockingPool.shared.run {
                try FileRestoreWorker(imagePath: imagePath, companionPaths: companionPaths,
                                      backingsWithin: BackupLayout.chainFolder(ofImage: imagePath), settings: settings)
            }
        } catch FileRestoreError.imageUnreadable(let reason) {
            throw Failure.unreadableDisk(backupID: backupID, diskIndex: diskIndex, reason: reason)
        }
        let sandbox = worker.opened.sandbox
        if !sandbox.notes.isEmpty {
            logger.warning("the file-restore worker for disk \(diskIndex) of \(backupID) is less confined than it should be: \(sandbox.notes.joined(separator: "; "))")
        }
        let now = Date()
        let session = Session(id: UUID().uuidString.lowercased(), backupID: backupID, backupDiskID: backupDiskID,
                              diskIndex: diskIndex, worker: worker, createdAt: now, lastUsed: now,
                              expiresAt: now + limits.idleLifetime, recordedUse: now)
        try await catalog.insertMount(RestoreMountRecord(
            mountId: session.id, backupId: backupID, backupDiskId: backupDiskID, diskIndex: diskIndex,
            filesystemType: worker.filesystemType, createdAt: now, expiresAt: session.expiresAt))
        sessions[session.id] = session
        logger.info("restore session \(session.id) opened on disk \(diskIndex) of \(backupID) (\(worker.filesystemType), worker \(worker.processID ?? 0))")
        return (session, true)
    }

    /// The session, its expiry pushed an idle lifetime ahead.
    public func touch(_ id: String) async throws -> Session {
        guard var session = sessions[id] else { throw missing(id) }
        let now = Date()
        session.lastUsed = now
        session.expiresAt = now + limits.idleLifetime
        let record = now.timeIntervalSince(session.recordedUse) >= Self.useRecordInterval
        if record { session.recordedUse = now }
        sessions[id] = session
        if record { try? await catalog.touchMount(id, lastUsed: now, expires: session.expiresAt) }
        return sessions[id] ?? session
    }

    public func all() -> [Session] { sessions.values.sorted { $0.createdAt < $1.createdAt } }

    /// Why `id` names no open session: it expired, or it never was.
    private func missing(_ id: String) -> Failure {
        if let at = expired[id] { return .expired(id, at: at) }
        return .unknown(id)
    }

    /// A download starts on a session its route has just touched.
    public func beginStream(_ id: String) {
        sessions[id]?.streams += 1
    }

    public func endStream(_ id: String) async {
        guard sessions[id] != nil else { return }
        sessions[id]?.streams -= 1
        _ = try? await touch(id)
    }

    public func unmount(_ id: String) async throws {
        guard let session = sessions.removeValue(forKey: id) else { throw missing(id) }
        await Self.stop(session)
        try? await catalog.deleteMount(id)
        logger.info("restore session \(id) closed")
    }

    /// Closes every session of a backup (before its files are deleted).
    public func unmountAll(backupID: String) async {
        for session in sessions.values where session.backupID == backupID {
            try? await unmount(session.id)
        }
    }

    /// Closes sessions idle past their expiry; answers their ids.
    @discardableResult
    public func sweep(now: Date = Date()) async -> [String] {
        var closed: [String] = []
        for session in sessions.values where session.streams == 0 && session.expiresAt <= now {
            sessions[session.id] = nil
            await Self.stop(session)
            expired[session.id] = session.expiresAt
            try? await catalog.deleteMount(session.id)
            logger.info("restore session \(session.id) expired")
            closed.append(session.id)
        }
        // Remember expiries for a day, so a late client hears "expired".
        expired = expired.filter { $0.value > now - 86400 }
        return closed
    }

    /// Kills the session's worker (waiting for its exit, off the cooperative pool).
    private static func stop(_ session: Session) async {
        let worker = session.worker
        await BlockingPool.shared.run { worker.stop() }
    }

    public func closeAll() async {
        for id in sessions.keys { try? await unmount(id) }
    }
}
