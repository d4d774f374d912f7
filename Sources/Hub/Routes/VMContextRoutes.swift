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

/// What a request for the VM list asked: a page, or every VM (no limit).
private struct VMPage: Hashable, Sendable {
    var limit: Int?
    var offset: Int
}

enum VMContextRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        // Kept until a VM changes: the GUI asks for the same pages (most often the whole list) again and again.
        let pages = KeptResponses<VMPage>(changes: catalog.vmContextChanges)
        table.add(.get, "/vm-contexts", .role(.viewer)) { request, _ -> Response in
            // Every VM unless the client pages.
            let query = request.uri.queryParameters
            let page = VMPage(limit: try query["limit"].map { try QueryNumber.parse($0, "limit", default: 0, in: 1...1000) },
                              offset: try QueryNumber.parse(query["offset"], "offset", default: 0, in: 0...Int.max))
            return try await pages.response(for: page) {
                let (records, total) = try await catalog.vmContexts(limit: page.limit, offset: page.offset)
                let list = records.map(VMContextResponse.init)
                return VMContextListResponse(vmContexts: list, count: list.count, totalCount: total)
            }
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
