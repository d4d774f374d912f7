import Catalog
import Engine
import Foundation
import Hummingbird
import SendenseAPI
import SendenseCore

/// `/discovery/libvirt`: the domains of a libvirt host (this machine, or one reached through SSH), and turning
/// them into VM contexts (backed up live while they run).
enum LibvirtDiscoveryRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/discovery/libvirt/discover-vms", .role(.operator)) { request, _ -> LibvirtDiscoverResponse in
            let body = try await request.decodeJSON(LibvirtDiscoverRequest.self, limit: services.maxBody)
            let uri = body.uri ?? LibvirtInventory.defaultURI
            let filter = try DiscoveryRoutes.filterPattern(body.filter)
            let start = ContinuousClock.now
            let domains = try await LibvirtInventory.domains(uri: uri).filter { DiscoveryRoutes.matches(filter, $0.name) }
            let elapsed = ContinuousClock.now - start
            let contexts = try await services.catalog.vmContexts().filter { $0.sourceType == .libvirt }
            let listed = domains.map { domain in
                LibvirtDomainResponse(
                    name: domain.name, uuid: domain.uuid, powerState: domain.running ? "poweredOn" : "poweredOff",
                    cpuCount: domain.vcpus, memoryMb: domain.memoryMB, firmware: domain.firmware,
                    disks: domain.disks.map { LibvirtDiskResponse(target: $0.target, path: $0.path, format: $0.format,
                                                                 capacityBytes: $0.capacityBytes, problem: $0.problem) },
                    contextId: contexts.first { $0.vmPath == "\(uri) \(domain.uuid)" }?.contextId)
            }
            let milliseconds = Int(elapsed.inMilliseconds)
            return LibvirtDiscoverResponse(uri: uri, domains: listed, count: listed.count, durationMs: milliseconds)
        }
        table.add(.post, "/discovery/libvirt/add-vms", .role(.operator)) { request, _ -> EditedResponse<AddVMsResponse> in
            let body = try await request.decodeJSON(LibvirtAddVMsRequest.self, limit: services.maxBody)
            guard !body.domains.isEmpty, body.domains.count <= 10_000 else { throw APIError.badRequest("domains must list 1 to 10000 names") }
            let saved = try await LibvirtInventory.add(uri: body.uri ?? LibvirtInventory.defaultURI, domains: Array(Set(body.domains)).sorted(),
                                                       catalog: services.catalog)
            return EditedResponse(status: .created, response: AddVMsResponse(added: saved.map(VMContextResponse.init), count: saved.count))
        }
    }
}
