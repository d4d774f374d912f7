import Catalog
import Engine
import Foundation
import Hummingbird
import SendenseAPI
import SendenseCore
import VSphere

#if canImport(Glibc)
import Glibc
#endif

/// `/discovery`: what a vCenter holds (one ContainerView and one paged
/// property retrieval, whatever its size) and turning VMs into VM contexts.
/// Adding a VM again updates its context instead of duplicating it.
enum DiscoveryRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        let catalog = services.catalog
        table.add(.post, "/discovery/discover-vms", .role(.operator)) { request, _ -> DiscoverResponse in
            let body = try await request.decodeJSON(DiscoverRequest.self, limit: services.maxBody)
            let credential = try await services.vmware.credential(body.credentialId)
            let filter = try filterPattern(body.filter)
            let start = ContinuousClock.now
            let vms = try await services.vmware.virtualMachines(of: credential).filter { matches(filter, $0.name) }
            let elapsed = ContinuousClock.now - start
            var added: Int?
            if body.createContext == true {
                added = try await services.vmware.record(vms, credential: credential).count
            }
            let contexts = try await catalog.vmContexts()
            let listed = vms.map { response($0, contexts: contexts, vcenter: credential.vcenterHost) }
            let milliseconds = Int(elapsed.inMilliseconds)
            return DiscoverResponse(discoveredVms: listed, count: listed.count, durationMs: milliseconds, added: added)
        }
        table.add(.post, "/discovery/add-vms", .role(.operator)) { request, _ -> EditedResponse<AddVMsResponse> in
            let body = try await request.decodeJSON(AddVMsRequest.self, limit: services.maxBody)
            guard !body.vmNames.isEmpty, body.vmNames.count <= 10_000 else { throw APIError.badRequest("vm_names must list 1 to 10000 names") }
            let credential = try await services.vmware.credential(body.credentialId)
            let vms = try await services.vmware.virtualMachines(of: credential)
            let byName = Dictionary(vms.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
            let missing = body.vmNames.filter { byName[$0] == nil }
            guard missing.isEmpty else {
                throw APIError.notFound("not found in \(credential.vcenterHost): \(missing.prefix(20).joined(separator: ", "))")
            }
            let chosen = Set(body.vmNames).compactMap { byName[$0] }.sorted { $0.name < $1.name }
            let saved = try await services.vmware.record(chosen, credential: credential)
            return EditedResponse(status: .created, response: AddVMsResponse(added: saved.map(VMContextResponse.init), count: saved.count))
        }
    }

    /// The name filter of a discovery: every name when blank or left out.
    static func filterPattern(_ given: String?) throws -> String {
        let filter = given?.nilIfBlank ?? "*"
        guard filter.unicodeScalars.count <= 256, !filter.utf8.contains(0) else {
            throw APIError.badRequest("filter must be a name pattern of at most 256 characters")
        }
        return filter
    }

    /// Shell-style pattern (`*`, `?`, `[…]`), case-insensitive; a pattern without wildcards matches a part of the name.
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let wildcard = pattern.contains { "*?[".contains($0) }
        guard wildcard else { return name.localizedCaseInsensitiveContains(pattern) }
        return fnmatch(pattern.lowercased(), name.lowercased(), 0) == 0
    }

    static func response(_ vm: VirtualMachineInfo, contexts: [VMContextRecord], vcenter: String) -> DiscoveredVMResponse {
        let context = contexts.first { $0.sourceType == .vmware && $0.vcenterHost == vcenter
            && ($0.instanceUuid != nil ? $0.instanceUuid == vm.instanceUuid : $0.moref == vm.moref) }
        let disks = vm.disks.map { disk in
            DiscoveredDiskResponse(vmwareDiskKey: disk.key, label: disk.label, capacityBytes: disk.capacityBytes,
                                   datastore: disk.datastoreName.map { "[\($0)]" }, path: disk.relativePath, thinProvisioned: disk.thinProvisioned)
        }
        return DiscoveredVMResponse(
            name: vm.name, moref: vm.moref, instanceUuid: vm.instanceUuid, vmPath: vm.vmxPath, datacenter: vm.datacenter,
            host: vm.host, powerState: vm.powerState, cpuCount: vm.cpuCount, memoryMb: vm.memoryMB, osType: vm.osType,
            guestOs: vm.guestFullName, cbtEnabled: vm.changeTrackingEnabled, disks: disks, contextId: context?.contextId)
    }
}
