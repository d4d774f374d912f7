import Catalog
import Engine
import Foundation
import Hummingbird
import SendenseAPI
import SendenseCore

/// `POST /vm-contexts`: registers a VM made of image files (`qemu_image`,
/// every file checked with qemu-img before anything is recorded) or a running
/// QEMU reached through its QMP socket (`qmp`, its disks asked from QEMU).
enum VMRegistrationRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/vm-contexts", .role(.operator)) { request, _ -> EditedResponse<VMContextResponse> in
            let body = try await request.decodeJSON(NewVMContextRequest.self, limit: services.maxBody)
            let context: VMContextRecord
            if body.source.type == SourceKind.qmp.rawValue {
                guard let socket = body.source.socket else { throw APIError.badRequest("source.socket is required for a qmp VM") }
                context = try await QMPInventory.register(name: body.vmName, socket: socket, agentSocket: body.source.agentSocket,
                                                          catalog: services.catalog)
            } else {
                context = try await VMInventory.registerImageVM(
                    name: body.vmName, sourceType: body.source.type,
                    disks: (body.source.disks ?? []).map { VMInventory.ImageDisk(path: $0.path, label: $0.label) }, catalog: services.catalog)
            }
            return EditedResponse(status: .created, response: VMContextResponse(record: context))
        }
    }
}
