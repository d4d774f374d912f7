import Catalog
import Foundation
import Hummingbird

/// A VM as API.md shows it. Absent values are sent as null, not left out:
/// clients written against the contract expect every key.
struct VMContextResponse: ResponseEncodable {
    var record: VMContextRecord

    enum CodingKeys: String, CodingKey {
        case contextId = "context_id", vmName = "vm_name", vmPath = "vm_path", vcenterHost = "vcenter_host"
        case datacenter, currentStatus = "current_status", cpuCount = "cpu_count", memoryMb = "memory_mb"
        case osType = "os_type", powerState = "power_state", credentialId = "credential_id"
        case lastBackupAt = "last_backup_at", createdAt = "created_at", sourceType = "source_type"
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(record.contextId, forKey: .contextId)
        try c.encode(record.vmName, forKey: .vmName)
        try c.encode(record.sourceType, forKey: .sourceType)
        try c.encode(record.vmPath, forKey: .vmPath)
        try c.encode(record.vcenterHost, forKey: .vcenterHost)
        try c.encode(record.datacenter, forKey: .datacenter)
        try c.encode(record.currentStatus, forKey: .currentStatus)
        try c.encode(record.cpuCount, forKey: .cpuCount)
        try c.encode(record.memoryMb, forKey: .memoryMb)
        try c.encode(record.osType, forKey: .osType)
        try c.encode(record.powerState, forKey: .powerState)
        try c.encode(record.credentialId, forKey: .credentialId)
        try c.encode(record.lastBackupAt, forKey: .lastBackupAt)
        try c.encode(record.createdAt, forKey: .createdAt)
    }
}

struct VMContextListResponse: ResponseEncodable {
    var vmContexts: [VMContextResponse]
    var count: Int
}

struct DiskResponse: ResponseEncodable {
    var diskIndex: Int
    var vmwareDiskKey: Int?
    var label: String
    var sizeGb: Int64
    var capacityBytes: Int64
    var datastore: String?
    var path: String

    init(_ disk: VMDiskRecord) {
        diskIndex = disk.diskIndex
        vmwareDiskKey = disk.vmwareDiskKey
        label = disk.label
        // Whole GiB, rounded up: a 1.5 GiB disk is not shown as 1.
        sizeGb = (disk.capacityBytes + (1 << 30) - 1) >> 30
        capacityBytes = disk.capacityBytes
        datastore = disk.datastore
        path = disk.path
    }
}

struct DiskListResponse: ResponseEncodable {
    var vmName: String
    var disks: [DiskResponse]
    var totalDisks: Int
}

enum VMContextRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.get, "/vm-contexts", .role(.viewer)) { _, _ -> VMContextListResponse in
            let list = try await catalog.vmContexts().map(VMContextResponse.init)
            return VMContextListResponse(vmContexts: list, count: list.count)
        }
        table.add(.get, "/vm-contexts/{vm_name}/disks", .role(.viewer)) { _, context -> DiskListResponse in
            let name = context.parameters.get("vm_name") ?? ""
            guard let vm = try await catalog.vmContext(named: name) else {
                throw APIError.notFound("VM not found: vm_name=\(name)")
            }
            let disks = try await catalog.disks(ofContext: vm.contextId).map(DiskResponse.init)
            return DiskListResponse(vmName: vm.vmName, disks: disks, totalDisks: disks.count)
        }
    }
}
