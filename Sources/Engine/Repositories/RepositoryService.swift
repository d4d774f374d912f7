import Catalog
import Foundation
import Logging
import Repository
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

/// Whether a repository can be used right now, and how full it is.
public struct RepositoryHealth: Sendable {
    public var online: Bool
    public var message: String?
    public var capacity: StorageCapacity?

    public init(online: Bool, message: String? = nil, capacity: StorageCapacity? = nil) {
        self.online = online
        self.message = message
        self.capacity = capacity
    }
}

/// Where the hub keeps its repositories' own files, and what it does at start.
public struct RepositorySettings: Sendable {
    public var data: DataDirectory
    /// Seconds a `mount` / `umount` of a network repository may take.
    public var mountTimeoutSeconds: Int
    /// Create `<data-dir>/repository` as repository "local" when none exists.
    public var createDefaultRepository: Bool

    public init(data: DataDirectory, mountTimeoutSeconds: Int = 30, createDefaultRepository: Bool = true) {
        self.data = data
        self.mountTimeoutSeconds = mountTimeoutSeconds
        self.createDefaultRepository = createDefaultRepository
    }
}

/// Creates, checks and removes repositories. An actor, so two requests can
/// never both pass the "no overlapping repository" check and then both write.
public actor RepositoryService {
    let catalog: CatalogDatabase
    let secrets: SecretBox
    let settings: RepositorySettings
    let mounter: ShareMounter
    let logger: Logger

    public init(catalog: CatalogDatabase, secrets: SecretBox, settings: RepositorySettings, logger: Logger) {
        self.catalog = catalog
        self.secrets = secrets
        self.settings = settings
        self.mounter = ShareMounter(timeoutSeconds: settings.mountTimeoutSeconds)
        self.logger = logger
    }

    /// Blocking file-system work (a new repository's folders, a mount): run it with `BlockingPool` as executor.
    public func create(_ request: RepositorySpec) async throws -> RepositoryRecord {
        if let problem = NameRules.problem(with: request.name, field: "name") { throw RepositoryRequestError.invalid(problem) }
        if let days = request.immutableDays, !(0...36500).contains(days) {
            throw RepositoryRequestError.invalid("immutable_days must be 0 to 36500")
        }
        let existing = try await catalog.repositories()
        if existing.contains(where: { $0.name == request.name }) {
            throw RepositoryRequestError.nameTaken(request.name)
        }
        switch request.type {
        case .local:
            return try await createLocal(request, existing: existing)
        case .nfs, .cifs:
            return try await createNetwork(request)
        }
    }

    private func createLocal(_ request: RepositorySpec, existing: [RepositoryRecord]) async throws -> RepositoryRecord {
        guard let rawPath = request.path else { throw RepositoryRequestError.invalid("missing field 'path' (required for type local)") }
        let path = try RepositoryPaths.normalize(rawPath)
        try checkPlacement(path, existing: existing)
        let prepared = try LocalRepository.prepareUndoably(at: path)
        var record = RepositoryRecord(
            name: request.name, type: .local, path: path, repositoryUuid: prepared.descriptor.id, immutable: request.immutable ?? false)
        record.immutableDays = request.immutableDays
        do {
            return try await catalog.insertRepository(record)
        } catch {
            prepared.undo()
            throw error
        }
    }

    private func createNetwork(_ request: RepositorySpec) async throws -> RepositoryRecord {
        let share: NetworkShare
        switch request.type {
        case .nfs:
            guard let server = request.nfsServer, let export = request.nfsExport else {
                throw RepositoryRequestError.invalid("type nfs needs the fields 'nfs_server' and 'nfs_export'")
            }
            share = .nfs(server: server, export: export, options: request.mountOptions)
        default:
            guard let cifsShare = request.cifsShare else {
                throw RepositoryRequestError.invalid("type cifs needs the field 'cifs_share' (//server/share)")
            }
            share = .cifs(share: cifsShare, username: request.username, password: request.password, options: request.mountOptions)
        }
        _ = try share.validated()
        let mounts = settings.data.mountsDirectory
        let mountPoint = mounts + "/" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: mounts, withIntermediateDirectories: true)
        try await mounter.mount(share, at: mountPoint, credentialsDirectory: mounts)
        do {
            let descriptor = try LocalRepository.prepare(at: mountPoint)
            var record = RepositoryRecord(
                name: request.name, type: request.type, path: mountPoint, repositoryUuid: descriptor.id,
                mountOptions: request.mountOptions, immutable: request.immutable ?? false)
            record.immutableDays = request.immutableDays
            record.nfsServer = request.nfsServer
            record.nfsExport = request.nfsExport
            record.cifsShare = request.cifsShare
            record.username = request.username
            record.passwordEncrypted = try request.password.map { try secrets.seal($0) }
            return try await catalog.insertRepository(record)
        } catch {
            try? await mounter.unmount(mountPoint)
            throw error
        }
    }

    /// Repositories must not nest in each other, nor hold the hub's own
    /// data dir, nor sit where the hub mounts shares.
    private func checkPlacement(_ path: String, existing: [RepositoryRecord]) throws {
        try RepositoryPaths.checkNoOverlap(path, existing: existing.map(\.path))
        let dataDir = (try? RepositoryPaths.normalize(settings.data.path)) ?? settings.data.path
        if RepositoryPaths.overlap(path, dataDir), !path.hasPrefix(dataDir + "/") {
            throw RepositoryRequestError.reserved("repository path \(path) would contain the hub's data dir \(dataDir)")
        }
        if RepositoryPaths.overlap(path, settings.data.mountsDirectory) || path == DataDirectory(dataDir).catalogPath {
            throw RepositoryRequestError.reserved("repository path \(path) is reserved for the hub's own files")
        }
    }

    public func delete(id: Int64) async throws {
        guard let record = try await catalog.repository(id: id) else {
            throw BackupError.repositoryNotFound(id)
        }
        try await catalog.deleteRepository(id: id)
        lastProbes[id] = nil
        if record.type != .local {
            do {
                try await mounter.unmount(record.path)
            } catch {
                logger.warning("repository \(record.name) removed, but its share stays mounted: \(error)")
            }
        }
    }

    /// Creates repository "local" under the data dir when the hub has none.
    public func ensureDefault() async throws {
        guard settings.createDefaultRepository, try await catalog.repositories().isEmpty else { return }
        _ = try await create(RepositorySpec(name: "local", type: .local, path: settings.data.defaultRepositoryPath))
        logger.info("created the default repository at \(settings.data.defaultRepositoryPath)")
    }

    /// Network shares do not survive a reboot: mount again what is not mounted.
    public func remountNetworkRepositories() async {
        guard let records = try? await catalog.repositories() else { return }
        for record in records where record.type != .local && !ShareMounter.isMountPoint(record.path) {
            do {
                let password = try record.passwordEncrypted.map { try secrets.open($0) }
                let share: NetworkShare = record.type == .nfs
                    ? .nfs(server: record.nfsServer ?? "", export: record.nfsExport ?? "", options: record.mountOptions)
                    : .cifs(share: record.cifsShare ?? "", username: record.username, password: password, options: record.mountOptions)
                try await mounter.mount(share, at: record.path, credentialsDirectory: settings.data.mountsDirectory)
                logger.info("mounted repository \(record.name) at \(record.path)")
            } catch {
                logger.error("repository \(record.name) is offline: \(error)")
            }
        }
    }

    /// What the online repositories hold (backups, and what killed jobs
    /// left): where the start-up recovery and the janitor look.
    /// Blocking file-system calls: from async code, run it on `BlockingPool`.
    public nonisolated static func contents(of records: [RepositoryRecord]) -> [RepositoryContents] {
        records.filter { check($0).online }.map { RepositoryContents.scan(root: $0.path) }
    }

    // MARK: health

    /// How long a request waits for a repository's file system to answer.
    static let probeDeadline: Duration = .seconds(2)

    /// Whether each repository is online and how full it is, answered within
    /// `probeDeadline` whatever its file system does: a share whose server
    /// hangs is reported offline ("did not answer") instead of hanging the
    /// request. At most one probe per repository is under way: callers
    /// arriving meanwhile share it, so a hung share holds one blocked thread,
    /// not one per request; an answer is given again for `probeReuse`.
    public func health(of records: [RepositoryRecord]) async -> [Int64: RepositoryHealth] {
        let now = ContinuousClock.now
        var answered: [Int64: RepositoryHealth] = [:]
        var unanswered: [RepositoryRecord] = []
        for record in records {
            if let last = lastProbes[record.id ?? 0], last.record == record, now - last.endedAt < Self.probeReuse {
                answered[record.id ?? 0] = last.health
            } else {
                unanswered.append(record)
            }
        }
        guard !unanswered.isEmpty else { return answered }
        let probes = unanswered.map { record in (record, probe(record)) }
        return await withTaskGroup(of: (Int64, RepositoryHealth).self) { group in
            for (record, probe) in probes {
                group.addTask {
                    do {
                        return (record.id ?? 0, try await withDeadline(Self.probeDeadline, "repository \(record.name)") { await probe.value })
                    } catch {
                        return (record.id ?? 0, RepositoryHealth(
                            online: false, message: "\(record.path) did not answer within \(Self.probeDeadline) (a hung share or disk?)"))
                    }
                }
            }
            for await (id, health) in group { answered[id] = health }
            return answered
        }
    }

    public func health(of record: RepositoryRecord) async -> RepositoryHealth {
        await health(of: [record])[record.id ?? 0] ?? RepositoryHealth(online: false, message: "not probed")
    }

    private var probes: [Int64: Task<RepositoryHealth, Never>] = [:]

    /// A probe's answer is given again for this long: a monitor or a dashboard asking several
    /// times a second cost a thread hop, a file read and a `statfs` each time (`/health` was
    /// the cost of a page of a list).
    static let probeReuse: Duration = .seconds(1)
    /// Each repository's last finished probe, for the record it probed (an edited repository is probed anew).
    private var lastProbes: [Int64: (record: RepositoryRecord, endedAt: ContinuousClock.Instant, health: RepositoryHealth)] = [:]

    private func probe(_ record: RepositoryRecord) -> Task<RepositoryHealth, Never> {
        let key = record.id ?? 0
        if let running = probes[key] { return running }
        let probe = Task { await BlockingPool.shared.run { Self.check(record) } }
        probes[key] = probe
        Task { self.probeEnded(key, probe, record: record, health: await probe.value) }
        return probe
    }

    private func probeEnded(_ key: Int64, _ probe: Task<RepositoryHealth, Never>, record: RepositoryRecord, health: RepositoryHealth) {
        guard probes[key] == probe else { return }
        probes[key] = nil
        lastProbes[key] = (record, .now, health)
    }

    /// Online means: the folder is there (mounted, for a share) and its
    /// repository.json carries the id the catalog expects. Writing into an
    /// empty mount point would silently fill the hub's own disk. Blocking
    /// file-system calls: requests go through `health(of:)`.
    public nonisolated static func check(_ record: RepositoryRecord) -> RepositoryHealth {
        if record.type != .local && !ShareMounter.isMountPoint(record.path) {
            return RepositoryHealth(online: false, message: "the share is not mounted at \(record.path)")
        }
        do {
            let descriptor = try LocalRepository.readDescriptor(at: record.path)
            guard descriptor.id == record.repositoryUuid else {
                return RepositoryHealth(online: false, message: "\(record.path) holds another repository (id \(descriptor.id))")
            }
            return RepositoryHealth(online: true, capacity: try StorageCapacity.of(path: record.path))
        } catch {
            return RepositoryHealth(online: false, message: "\(error)")
        }
    }
}
