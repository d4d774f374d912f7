import Catalog
import Foundation
import Libvirt
import Repository
import SendenseCore

/// A restore point a whole VM can be made from: completed, with the VM
/// configuration its backup stored (libvirt domain XML; VMware hardware for
/// a restore into vCenter) and every disk's image present. Instant
/// recovery, VM restore and boot checks all start here.
struct RecoverablePoint: Sendable {
    struct Disk: Sendable {
        var index: Int
        /// The guest's name for it in the stored XML (`vda`).
        var label: String
        var image: String
    }

    var backup: BackupJobRecord
    /// The stored configuration's document (domain XML, or VMware hardware as JSON).
    var configuration: String
    var disks: [Disk]

    /// `purpose` says what for in errors ("recovered", "restored as a VM").
    static func load(_ backupID: String, toBe purpose: String, configuration format: VMConfiguration.Format = .libvirtDomainXML,
                     catalog: CatalogDatabase, dataDirectory: String) async throws -> RecoverablePoint {
        let backup = try await RestorePoints(catalog: catalog, dataDirectory: dataDirectory).completed(backupID, toBe: purpose)
        guard let repository = try await catalog.repository(id: backup.repositoryId) else { throw BackupError.repositoryNotFound(backup.repositoryId) }
        let directory = BackupLayout(repositoryRoot: repository.path, vmName: backup.vmName).backupDirectory(backupID)
        let manifest: BackupManifest
        do {
            manifest = try await BlockingPool.shared.run { try BackupManifest.read(from: directory) }
        } catch {
            throw RecoveryError.notRecoverable("backup \(backupID) cannot be \(purpose): \(error)")
        }
        guard let configuration = manifest.vmConfiguration, configuration.format == format else {
            let which = format == .vmwareHardware ? "VMware VM configuration (only backups of VMware VMs keep one)"
                : "libvirt domain configuration (only backups of libvirt domains can be \(purpose) today)"
            throw RecoveryError.notRecoverable("backup \(backupID) holds no \(which); restore its disks instead")
        }
        let records = try await catalog.backupDisks(of: backupID)
        var disks: [Disk] = []
        for disk in manifest.disks.sorted(by: { $0.index < $1.index }) {
            guard let record = records.first(where: { $0.diskIndex == disk.index }), record.status == .completed else {
                throw BackupError.backupDiskNotFound(backupID, disk.index)
            }
            guard FileManager.default.fileExists(atPath: record.qcow2Path) else { throw BackupError.filesMissing(backupID, record.qcow2Path) }
            disks.append(Disk(index: disk.index, label: disk.label, image: record.qcow2Path))
        }
        guard !disks.isEmpty else { throw RecoveryError.notRecoverable("backup \(backupID) has no disk") }
        return RecoverablePoint(backup: backup, configuration: configuration.document, disks: disks)
    }

    /// This host's libvirt, for a new domain named `name`: refused when the
    /// hub holds the name (an active recovery, an unsettled VM restore) or
    /// libvirt has a domain of it.
    static func connection(_ uri: String, forNewDomain name: String, catalog: CatalogDatabase) async throws -> LibvirtConnection {
        if try await catalog.domainNameHeld(name) { throw RecoveryError.nameTaken(name) }
        let connection: LibvirtConnection
        do {
            connection = try await LibvirtConnection.open(uri)
        } catch {
            throw RecoveryError.hostUnreachable("cannot reach libvirt at \(uri): \(error)")
        }
        if (try? await connection.domain(named: name)) != nil { throw RecoveryError.nameTaken(name) }
        return connection
    }

    /// Refused when the domain needs KVM and this host has none.
    static func checkHostRuns(_ domain: RecoveredDomain) throws {
        if domain.domainType == "kvm" && !FileManager.default.fileExists(atPath: "/dev/kvm") {
            throw RecoveryError.notRecoverable("the VM is a KVM domain and this host has no /dev/kvm")
        }
    }

    /// libvirt domain names the hub hands out: 1 to 64 letters, digits, `.`, `_`, `-`, not starting with `-` or `.`.
    static func domainNameProblem(_ name: String) -> String? {
        let allowed = name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) || "._-".unicodeScalars.contains($0)) }
        guard (1...64).contains(name.unicodeScalars.count), allowed, !name.hasPrefix("-"), !name.hasPrefix(".") else {
            return "name must be 1 to 64 letters, digits, '.', '_' or '-', not starting with '-' or '.'"
        }
        return nil
    }
}
