import BackupSources
import Catalog
import Foundation
import Hummingbird
import Repository
import SendenseCore

struct NewVMContextRequest: Decodable {
    struct Source: Decodable {
        struct Disk: Decodable {
            var path: String
            var label: String?
        }

        var type: String
        var disks: [Disk]
    }

    var vmName: String
    var source: Source

    enum CodingKeys: String, CodingKey {
        case vmName = "vm_name", source
    }
}

/// `POST /vm-contexts`: registers a VM made of image files (`qemu_image`).
/// Every file is checked with qemu-img before anything is recorded.
enum VMRegistrationRoutes {
    static func register(_ table: RouteTable, _ services: HubServices) {
        table.add(.post, "/vm-contexts", .role(.operator)) { request, _ -> EditedResponse<VMContextResponse> in
            let body = try await request.decodeJSON(NewVMContextRequest.self, limit: services.maxBody)
            if let problem = NameRules.problem(with: body.vmName, field: "vm_name") { throw APIError.badRequest(problem) }
            guard body.source.type == "qemu_image" else {
                throw APIError.unprocessable("source type \(body.source.type) cannot be registered here; VMware VMs are added through discovery")
            }
            guard !body.source.disks.isEmpty, body.source.disks.count <= 64 else {
                throw APIError.badRequest("source.disks must list 1 to 64 disk images")
            }
            var disks: [QemuImageSource.Disk] = []
            for (index, disk) in body.source.disks.enumerated() {
                guard disk.path.hasPrefix("/"), !disk.path.utf8.contains(0) else {
                    throw APIError.badRequest("source.disks[\(index)].path must be an absolute path")
                }
                let label = disk.label ?? "disk\(index)"
                if let problem = NameRules.problem(with: label, field: "source.disks[\(index)].label") { throw APIError.badRequest(problem) }
                disks.append(.init(index: index, path: disk.path, label: label))
            }
            let inspected = try await QemuImageSource(disks: disks, socketDirectory: "").disks()
            if try await services.catalog.vmContext(named: body.vmName) != nil {
                throw APIError.conflict("a VM named \(body.vmName) already exists")
            }
            let now = Date()
            var context = VMContextRecord(contextId: contextID(for: body.vmName, at: now), vmName: body.vmName, sourceType: .qemuImage, now: now)
            context.vmPath = disks.first?.path
            context.powerState = "poweredOff"
            context.sourceJson = String(decoding: try JSONEncoder().encode(disks), as: UTF8.self)
            let rows = inspected.map {
                VMDiskRecord(contextId: context.contextId, diskIndex: $0.index, label: $0.label, capacityBytes: Int64($0.capacityBytes), path: $0.location)
            }
            try await services.catalog.insertVMContext(context, disks: rows)
            return EditedResponse(status: .created, response: VMContextResponse(record: context))
        }
    }
}

/// `ctx-<vm key>-<UTC yyyyMMdd-HHmmss>`, as API.md shows context ids.
func contextID(for vmName: String, at date: Date) -> String {
    let stamp = date.formatted(Date.VerbatimFormatStyle(
        format: "\(year: .defaultDigits)\(month: .twoDigits)\(day: .twoDigits)-\(hour: .twoDigits(clock: .twentyFourHour, hourCycle: .zeroBased))\(minute: .twoDigits)\(second: .twoDigits)",
        timeZone: .gmt, calendar: Calendar(identifier: .gregorian)))
    return "ctx-\(BackupLayout.vmKey(for: vmName))-\(stamp)"
}
