import Catalog
import Foundation
import Hummingbird
import SendenseAPI

extension VMContextResponse {
    init(record: VMContextRecord) {
        self.init(contextId: record.contextId, vmName: record.vmName, sourceType: record.sourceType, vmPath: record.vmPath,
                  vcenterHost: record.vcenterHost, datacenter: record.datacenter, currentStatus: record.currentStatus,
                  cpuCount: record.cpuCount, memoryMb: record.memoryMb, osType: record.osType, powerState: record.powerState,
                  credentialId: record.credentialId, lastBackupAt: record.lastBackupAt, createdAt: record.createdAt)
    }
}

extension DiskResponse {
    init(_ disk: VMDiskRecord) {
        self.init(diskIndex: disk.diskIndex, vmwareDiskKey: disk.vmwareDiskKey, label: disk.label, capacityBytes: disk.capacityBytes,
                  datastore: disk.datastore, path: disk.path)
    }
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
