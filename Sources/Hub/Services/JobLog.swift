import Foundation

/// Maintenance jobs (prune, merge, cleanup) as `GET /jobs` lists them: the
/// last few hundred, in memory (their effects are in the catalog and logs).
actor JobLog {
    struct Entry: Sendable {
        var id: String
        var type: String
        var status: String
        var vmName: String?
        var detail: String?
        var createdAt: Date
        var completedAt: Date?
    }

    private var entries: [Entry] = []
    private let capacity = 500

    func begin(_ type: String, vmName: String? = nil) -> String {
        let id = "\(type)-\(UUID().uuidString.prefix(8).lowercased())"
        entries.append(Entry(id: id, type: type, status: "running", vmName: vmName, createdAt: Date()))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
        return id
    }

    func end(_ id: String, status: String, detail: String? = nil) {
        guard let index = entries.lastIndex(where: { $0.id == id }) else { return }
        entries[index].status = status
        entries[index].detail = detail
        entries[index].completedAt = Date()
    }

    /// A job that ran inside another (a merge inside a prune), recorded as done.
    func record(_ type: String, vmName: String?, detail: String, at date: Date = Date()) {
        entries.append(Entry(id: "\(type)-\(UUID().uuidString.prefix(8).lowercased())", type: type, status: "completed",
                             vmName: vmName, detail: detail, createdAt: date, completedAt: date))
        if entries.count > capacity { entries.removeFirst(entries.count - capacity) }
    }

    var all: [Entry] { entries }
}
