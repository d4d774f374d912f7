import Engine
import Foundation
import Hummingbird
import SendenseAPI

/// `POST /vm-contexts`: registers a VM made of image files (`qemu_image`).
/// Every file is checked with qemu-img before anything is recorded.
enum VMRegistrationRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/vm-contexts", .role(.operator)) { request, _ -> EditedResponse<VMContextResponse> in
            let body = try await request.decodeJSON(NewVMContextRequest.self, limit: services.maxBody)
            let context = try await VMInventory.registerImageVM(
                name: body.vmName, sourceType: body.source.type, disks: body.source.disks.map { VMInventory.ImageDisk(path: $0.path, label: $0.label) },
                catalog: services.catalog)
            return EditedResponse(status: .created, response: VMContextResponse(record: context))
        }
    }
}
