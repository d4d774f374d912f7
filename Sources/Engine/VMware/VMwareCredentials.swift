import BackupSources
import Catalog
import Foundation
import Logging
import VSphere

/// The hub's vCenters: turns a stored credential into a login (the
/// password is decrypted only here, in memory, when a session needs it) and
/// builds the backup source of a VMware VM.
public struct VMwareCredentials: Sendable {
    let catalog: CatalogDatabase
    let secrets: SecretBox
    /// Where VMware's VDDK is installed, for the vddk transport.
    let vddkLibdir: String?
    let processLog: (any ChildProcessLog)?

    public init(catalog: CatalogDatabase, secrets: SecretBox, vddkLibdir: String?, processLog: (any ChildProcessLog)?) {
        self.catalog = catalog
        self.secrets = secrets
        self.vddkLibdir = vddkLibdir
        self.processLog = processLog
    }

    public func login(for record: VMwareCredentialRecord) throws -> VCenterLogin {
        let trust: CertificateTrust = if let thumbprint = record.thumbprint {
            .pinned(thumbprint: thumbprint)
        } else if record.insecure {
            .insecure
        } else {
            .systemRoots
        }
        return VCenterLogin(endpoint: VCenterEndpoint(host: record.vcenterHost, port: record.vcenterPort, trust: trust),
                            username: record.username, password: try secrets.open(record.passwordEncrypted))
    }

    func transport(of record: VMwareCredentialRecord) -> VMwareSource.Transport {
        switch record.transport {
        case "vddk": .vddk(libdir: vddkLibdir)
        case "ssh": .ssh
        default: .https
        }
    }

    /// The source of a VMware VM context, or why there is none: a VM whose
    /// credential was deleted fails at once with that reason.
    public func source(for context: VMContextRecord, disks: [VMDiskRecord], runDirectory: String) async throws -> any BackupSource {
        guard let id = context.credentialId, let record = try await catalog.vmwareCredential(id: id) else {
            throw BackupError.sourceUnavailable(
                "the vCenter credential of \(context.vmName) was deleted: add the vCenter again and discover the VM with it")
        }
        guard let moref = context.moref, let datacenter = context.datacenter else {
            throw BackupError.sourceUnavailable("\(context.vmName) lacks its vCenter identity: discover it again")
        }
        var sourceDisks: [VMwareSource.Disk] = []
        for disk in disks {
            guard let key = disk.vmwareDiskKey else {
                throw BackupError.sourceUnavailable("disk \(disk.diskIndex) of \(context.vmName) has no device key: discover the VM again")
            }
            sourceDisks.append(.init(index: disk.diskIndex, key: key, label: disk.label, capacityBytes: UInt64(disk.capacityBytes)))
        }
        let login: VCenterLogin
        do {
            login = try self.login(for: record)
        } catch {
            throw BackupError.sourceUnavailable("the password of credential \(record.name) cannot be decrypted with this hub's key")
        }
        var source = VMwareSource(login: login, vmMoref: moref, datacenter: datacenter, disks: sourceDisks,
                                  transport: transport(of: record), socketDirectory: runDirectory)
        source.processLog = processLog
        return source
    }

    /// Removes `sendense-<backup_id>` snapshots left by a hub that stopped
    /// mid-backup: only of this hub's VMs, only of backups this catalog knows
    /// and that are not running. Runs in the background at start; a vCenter
    /// that cannot be reached is tried again at the next start.
    @discardableResult
    func removeLeftoverSnapshots(isRunning: @Sendable (String) async -> Bool, logger: Logger) async -> [String] {
        var removed: [String] = []
        guard let credentials = try? await catalog.vmwareCredentials() else { return [] }
        for credential in credentials {
            guard let id = credential.id, let ours = try? await catalog.vmContexts(credentialID: id), !ours.isEmpty else { continue }
            let morefs = Set(ours.compactMap(\.moref))
            do {
                let login = try login(for: credential)
                try await VSphereClient.with(login) { client in
                    for (moref, snapshots) in try await client.snapshotsOfAllVMs() where morefs.contains(moref) {
                        for snapshot in snapshots where snapshot.name.hasPrefix(VMwareSource.snapshotPrefix) {
                            let backupID = String(snapshot.name.dropFirst(VMwareSource.snapshotPrefix.count))
                            guard (try? await catalog.backup(id: backupID)) != nil, await !isRunning(backupID) else { continue }
                            do {
                                try await client.removeSnapshot(snapshot.snapshot)
                                removed.append(snapshot.name)
                                logger.notice("removed leftover snapshot \(snapshot.name) of \(moref) on \(credential.vcenterHost)")
                            } catch {
                                logger.error("cannot remove leftover snapshot \(snapshot.name) of \(moref): \(error)")
                            }
                        }
                    }
                }
            } catch {
                logger.warning("cannot look for leftover snapshots on \(credential.vcenterHost): \(error)")
            }
        }
        return removed
    }
}
