import Catalog
import Foundation
import SendenseCore
import VSphere

/// What a vCenter holds, read with a stored credential: discovery, the
/// credential test, and turning discovered VMs into VM contexts.
extension VMwareCredentials {
    /// The transports nbdkit reads VMware disks with.
    public static let transports = ["vddk", "https", "ssh"]

    /// The record as stored: every field checked, a pinned thumbprint in
    /// its displayed form (`AB:CD:…`).
    public static func validated(_ record: VMwareCredentialRecord) throws -> VMwareCredentialRecord {
        if let problem = NameRules.problem(with: record.name, field: "name") { throw VMwareError.invalid(problem) }
        let host = record.vcenterHost
        guard !host.isEmpty, host.unicodeScalars.count <= 253, !host.hasPrefix("-"),
              host.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0)) || ".-:[]".unicodeScalars.contains($0)) }) else {
            throw VMwareError.invalid("vcenter_host must be a host name or IP address (no scheme, port or path)")
        }
        guard (1...65535).contains(record.vcenterPort) else { throw VMwareError.invalid("vcenter_port must be 1 to 65535") }
        if let problem = NameRules.problem(with: record.username, field: "username") { throw VMwareError.invalid(problem) }
        guard transports.contains(record.transport) else {
            throw VMwareError.invalid("transport must be one of \(transports.joined(separator: ", "))")
        }
        if let thumbprint = record.thumbprint {
            guard CertificateTrust.displayed(thumbprint: thumbprint) != nil else {
                throw VMwareError.invalid("thumbprint must be a SHA-1 (20 bytes) or SHA-256 (32 bytes) fingerprint in hex, e.g. AB:CD:…")
            }
            guard !record.insecure else { throw VMwareError.invalid("choose either a pinned thumbprint or insecure, not both") }
        }
        if let datacenter = record.datacenter, let problem = NameRules.problem(with: datacenter, field: "datacenter") {
            throw VMwareError.invalid(problem)
        }
        var record = record
        record.thumbprint = record.thumbprint.flatMap { CertificateTrust.displayed(thumbprint: $0) }
        return record
    }

    public func credential(_ id: Int64) async throws -> VMwareCredentialRecord {
        guard let record = try await catalog.vmwareCredential(id: id) else { throw VMwareError.credentialNotFound(id) }
        return record
    }

    /// Every VM of the vCenter (of the credential's datacenter when it names
    /// one), templates left out: they cannot be snapshotted.
    public func virtualMachines(of credential: VMwareCredentialRecord) async throws -> [VirtualMachineInfo] {
        let login: VCenterLogin
        do {
            login = try self.login(for: credential)
        } catch {
            throw VMwareError.undecryptable(credential.name)
        }
        do {
            return try await VSphereClient.with(login) { try await $0.virtualMachines() }
                .filter { !$0.isTemplate && (credential.datacenter == nil || $0.datacenter == credential.datacenter) }
        } catch let error as VSphereError {
            throw VMwareError.unreachable(host: credential.vcenterHost, reason: "\(error)")
        }
    }

    /// How a credential's test went: a refusal is an answer, not an error.
    public struct TestResult: Sendable {
        public var success: Bool
        public var message: String
        public var vmCount: Int?
        public var vcenterVersion: String?
    }

    /// Logs in with the credential and counts the VMs it sees.
    public func test(_ credential: VMwareCredentialRecord) async throws -> TestResult {
        let login: VCenterLogin
        do {
            login = try self.login(for: credential)
        } catch {
            return TestResult(success: false, message: "the stored password cannot be decrypted with this hub's key: enter it again")
        }
        do {
            return try await VSphereClient.with(login) { client in
                let content = try await client.serviceContent()
                let count = try await client.inventory(types: ["VirtualMachine"], [PropertySpec(type: "VirtualMachine", paths: ["name"])]).count
                return TestResult(success: true, message: "connected to \(content.fullName)", vmCount: count, vcenterVersion: content.apiVersion)
            }
        } catch let error as VSphereError {
            return TestResult(success: false, message: error.description)
        }
    }

    /// Records the VMs as VM contexts in one transaction: all of them or none.
    /// A VM known already (same vCenter, same instance uuid or moref) has its context updated.
    public func record(_ vms: [VirtualMachineInfo], credential: VMwareCredentialRecord) async throws -> [VMContextRecord] {
        let now = Date()
        let found = vms.map { vm -> (VMContextRecord, [VMDiskRecord]) in
            var context = VMContextRecord(contextId: VMInventory.contextID(for: vm.name, at: now), vmName: vm.name, sourceType: .vmware, now: now)
            context.vmPath = vm.vmxPath
            context.vcenterHost = credential.vcenterHost
            context.datacenter = vm.datacenter
            context.moref = vm.moref
            context.instanceUuid = vm.instanceUuid
            context.cpuCount = vm.cpuCount
            context.memoryMb = vm.memoryMB
            context.osType = vm.osType
            context.powerState = vm.powerState
            context.credentialId = credential.id
            let disks = vm.disks.enumerated().map { index, disk in
                var record = VMDiskRecord(contextId: context.contextId, diskIndex: index, label: disk.label,
                                          capacityBytes: disk.capacityBytes, path: disk.relativePath)
                record.vmwareDiskKey = disk.key
                record.datastore = disk.datastoreName.map { "[\($0)]" }
                return record
            }
            return (context, disks)
        }
        return try await catalog.saveDiscoveredVMs(found)
    }
}

/// Why a vCenter could not be asked.
public enum VMwareError: Error, Equatable, Sendable, CustomStringConvertible {
    case credentialNotFound(Int64)
    /// A field of a credential is missing or malformed.
    case invalid(String)
    /// Its stored password cannot be opened with this hub's key.
    case undecryptable(String)
    /// vCenter refused or could not be reached: the request was fine, the peer was not.
    case unreachable(host: String, reason: String)

    public var description: String {
        switch self {
        case .credentialNotFound(let id): "vCenter credential not found: id=\(id)"
        case .invalid(let message): message
        case .undecryptable(let name): "the password of credential \(name) cannot be decrypted with this hub's key: enter it again"
        case .unreachable(let host, let reason): "vCenter \(host): \(reason)"
        }
    }
}
