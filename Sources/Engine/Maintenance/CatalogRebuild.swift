import Catalog
import Foundation
import SendenseCore
import Logging
import Repository

/// Rebuilds VM contexts, backups and chains from what a repository holds:
/// every committed backup folder carries its manifest (VM, disks, parent,
/// dates), so a hub whose database was lost shows and restores every backup
/// again. Backups the catalog knows are left as they are; a VM context is
/// created only when no VM of that name exists. VMware VMs come back without
/// a credential: back them up again after discovering them with one.
public enum CatalogRebuild {
    public struct Report: Sendable, Encodable {
        public var repository: String
        public var vmContextsCreated: [String] = []
        public var backupsImported = 0
        public var backupsKnown = 0
        public var skipped: [String] = []

        enum CodingKeys: String, CodingKey {
            case repository, skipped
            case vmContextsCreated = "vm_contexts_created", backupsImported = "backups_imported", backupsKnown = "backups_known"
        }
    }

    /// `sendense admin rebuild-catalog`: opens (or creates) the catalog of a
    /// data dir, registers the default repository and each extra local
    /// repository folder not registered yet, and rescans every repository
    /// that is online. Run it while the hub is stopped.
    public static func rebuild(dataDirectory: String, repositories extra: [String], logger: Logger) async throws -> [Report] {
        let data = try DataDirectory.prepare(dataDirectory)
        let catalog = try CatalogDatabase(path: data.catalogPath)
        defer { try? catalog.close() }
        let secrets = try SecretBox.loadOrCreate(at: data.secretKeyPath)
        let service = RepositoryService(catalog: catalog, secrets: secrets, settings: RepositorySettings(data: data), logger: logger)
        try await service.ensureDefault()
        for path in extra {
            let normalized = try RepositoryPaths.normalize(path)
            guard try await catalog.repositories().contains(where: { $0.path == normalized }) == false else { continue }
            let name = "imported-" + URL(fileURLWithPath: normalized).lastPathComponent
            _ = try await service.create(RepositorySpec(name: name, type: .local, path: normalized))
        }
        var reports: [Report] = []
        for repository in try await catalog.repositories() {
            guard RepositoryService.check(repository).online else {
                reports.append(Report(repository: repository.name, skipped: ["offline: \(repository.path)"]))
                continue
            }
            reports.append(try await rescan(repository, catalog: catalog, logger: logger))
        }
        return reports
    }

    public static func rescan(_ repository: RepositoryRecord, catalog: CatalogDatabase, logger: Logger) async throws -> Report {
        var report = Report(repository: repository.name)
        var manifests: [(folder: String, manifest: BackupManifest)] = []
        for backup in RepositoryContents.scan(root: repository.path).backups {
            do {
                manifests.append((backup.folder, try BackupManifest.read(from: backup.folder)))
            } catch {
                report.skipped.append("\(backup.folder): \(error)")
            }
        }
        // Parents before children: the catalog refuses a backup whose parent it does not know.
        let byID = Dictionary(manifests.map { ($0.manifest.backupId, $0) }, uniquingKeysWith: { first, _ in first })
        var ordered: [(folder: String, manifest: BackupManifest)] = []
        var placed = Set<String>()
        func place(_ id: String, depth: Int) {
            guard !placed.contains(id), let item = byID[id], depth < 10_000 else { return }
            if let parent = item.manifest.parentId { place(parent, depth: depth + 1) }
            placed.insert(id)
            ordered.append(item)
        }
        for item in manifests.sorted(by: { $0.manifest.createdAt < $1.manifest.createdAt }) { place(item.manifest.backupId, depth: 0) }

        // Manifest dates are whole seconds; the catalog orders a chain by date,
        // so a point is dated at least a millisecond after its parent.
        var importedDates: [String: Date] = [:]
        for (folder, manifest) in ordered {
            // The parent must be in the catalog already or imported in this run (not skipped).
            if let parent = manifest.parentId, importedDates[parent] == nil, try await catalog.backup(id: parent) == nil {
                report.skipped.append("\(manifest.backupId): its parent \(parent) is missing from the repository or was skipped")
                continue
            }
            do {
                let context = try await ensureContext(for: manifest, report: &report, catalog: catalog)
                var createdAt = manifest.createdAt
                if let parent = manifest.parentId {
                    let known = try await catalog.backup(id: parent)?.createdAt
                    if let parentDate = importedDates[parent] ?? known { createdAt = max(createdAt, parentDate.addingTimeInterval(0.001)) }
                }
                var job = BackupJobRecord(backupId: manifest.backupId, vmBackupContextId: 0, repositoryId: repository.id ?? 0,
                                          vmName: context.vmName, backupType: manifest.backupType, parentBackupId: manifest.parentId,
                                          note: "imported from the repository", createdAt: createdAt)
                job.status = .completed
                job.consistency = manifest.consistency
                job.currentPhase = BackupStatus.completed.rawValue
                job.startedAt = manifest.createdAt
                job.completedAt = manifest.completedAt
                let bytes = manifest.disks.reduce(UInt64(0)) { $0 + $1.bytesWritten }
                job.bytesTransferred = Int64(bytes)
                job.totalBytes = Int64(bytes)
                let disks = manifest.disks.map { disk in
                    var record = BackupDiskRecord(backupId: manifest.backupId, diskIndex: disk.index, capacityBytes: Int64(disk.capacityBytes),
                                                  qcow2Path: folder + "/" + disk.file)
                    record.status = .completed
                    record.bytesTransferred = Int64(disk.bytesWritten)
                    record.checkpoint = disk.checkpoint
                    record.vmwareDiskKey = manifest.vm.identity["disk.\(disk.index).key"].flatMap(Int.init)
                    return record
                }
                let vmKey = URL(fileURLWithPath: folder).deletingLastPathComponent().lastPathComponent
                if try await catalog.importBackup(job, contextID: context.contextId, vmKey: vmKey, disks: disks) {
                    report.backupsImported += 1
                } else {
                    report.backupsKnown += 1
                }
                importedDates[manifest.backupId] = createdAt
            } catch {
                // One backup the catalog cannot take does not stop the others; the report says why.
                report.skipped.append("\(manifest.backupId): \(error)")
            }
        }
        logger.notice("rescan of \(repository.name): \(report.backupsImported) backups imported, \(report.vmContextsCreated.count) VMs created, \(report.skipped.count) skipped")
        return report
    }

    /// The VM context a manifest names, created from the manifest when missing.
    private static func ensureContext(for manifest: BackupManifest, report: inout Report, catalog: CatalogDatabase) async throws -> VMContextRecord {
        if let existing = try await catalog.vmContext(named: manifest.vm.name) { return existing }
        let identity = manifest.vm.identity
        let contextID = identity["context_id"] ?? "ctx-\(BackupLayout.vmKey(for: manifest.vm.name))-imported"
        var context = VMContextRecord(contextId: contextID, vmName: manifest.vm.name, sourceType: manifest.vm.sourceType, now: manifest.createdAt)
        context.vmPath = identity["vm_path"]
        context.vcenterHost = identity["vcenter_host"]
        context.datacenter = identity["datacenter"]
        context.moref = identity["moref"]
        context.instanceUuid = identity["instance_uuid"]
        context.osType = identity["os_type"]
        context.cpuCount = identity["cpu_count"].flatMap(Int.init)
        context.memoryMb = identity["memory_mb"].flatMap(Int.init)
        if [.libvirt, .qmp].contains(context.sourceType) { context.sourceJson = identity["source_json"] }
        if context.sourceType == .qemuImage {
            let disks = manifest.disks.compactMap { disk in identity["disk.\(disk.index).path"].map { (disk.index, $0, disk.label) } }
            struct Disk: Encodable { var index: Int; var path: String; var label: String }
            context.sourceJson = String(decoding: try JSONEncoder().encode(disks.map { Disk(index: $0.0, path: $0.1, label: $0.2) }), as: UTF8.self)
        }
        let disks = manifest.disks.map { disk in
            var record = VMDiskRecord(contextId: contextID, diskIndex: disk.index, label: disk.label, capacityBytes: Int64(disk.capacityBytes),
                                      path: identity["disk.\(disk.index).path"] ?? "")
            record.vmwareDiskKey = identity["disk.\(disk.index).key"].flatMap(Int.init)
            record.datastore = identity["disk.\(disk.index).datastore"]
            return record
        }
        try await catalog.insertVMContext(context, disks: disks)
        report.vmContextsCreated.append(context.vmName)
        return context
    }
}
