/// What Sendense asks of vCenter about VMs: discovery, snapshots, CBT.
extension VSphereClient {
    static let vmProperties = [
        "name", "parent", "config.instanceUuid", "config.files.vmPathName", "config.hardware.numCPU",
        "config.hardware.memoryMB", "config.guestId", "config.guestFullName", "config.changeTrackingEnabled",
        "config.template", "config.hardware.device", "runtime.powerState", "runtime.host",
    ]

    /// Every VM of the inventory with its disks, datacenter and host: one
    /// ContainerView and one paged retrieval, whatever the number of VMs.
    /// Datacenters and hosts come in the same retrieval (names, parents),
    /// so each VM's datacenter is found by walking parents locally.
    public func virtualMachines() async throws -> [VirtualMachineInfo] {
        let objects = try await inventory(
            types: ["VirtualMachine", "HostSystem", "Datacenter", "Folder"],
            [PropertySpec(type: "VirtualMachine", paths: Self.vmProperties),
             PropertySpec(type: "HostSystem", paths: ["name"]),
             PropertySpec(type: "Datacenter", paths: ["name", "parent"]),
             PropertySpec(type: "Folder", paths: ["parent"])])
        var parents: [ManagedObjectReference: ManagedObjectReference] = [:]
        var names: [ManagedObjectReference: String] = [:]
        for object in objects where object.object.type != "VirtualMachine" {
            if let parent = object.properties["parent"]?.reference { parents[object.object] = parent }
            if let name = object.properties["name"]?.text { names[object.object] = name }
        }
        func datacenter(of start: ManagedObjectReference?) -> String? {
            Self.ancestor(of: start, type: "Datacenter") { parents[$0] }.flatMap { names[$0] }
        }
        return objects.filter { $0.object.type == "VirtualMachine" }.map { object in
            let p = object.properties
            return VirtualMachineInfo(
                moref: object.object.value, name: p["name"]?.text ?? object.object.value,
                instanceUuid: p["config.instanceUuid"]?.text, vmxPath: p["config.files.vmPathName"]?.text,
                datacenter: datacenter(of: p["parent"]?.reference),
                host: p["runtime.host"]?.reference.flatMap { names[$0] },
                powerState: p["runtime.powerState"]?.text, cpuCount: p["config.hardware.numCPU"].flatMap { Int($0.text) },
                memoryMB: p["config.hardware.memoryMB"].flatMap { Int($0.text) }, guestId: p["config.guestId"]?.text,
                guestFullName: p["config.guestFullName"]?.text,
                changeTrackingEnabled: p["config.changeTrackingEnabled"]?.text == "true",
                isTemplate: p["config.template"]?.text == "true",
                disks: VirtualDiskInfo.disks(in: p["config.hardware.device"]))
        }.sorted { $0.name < $1.name }
    }

    /// `start` itself or its nearest ancestor of `type`, walking `parent`;
    /// at most 64 steps (inventories are shallow; a loop is not followed).
    static func ancestor(of start: ManagedObjectReference?, type: String,
                         parent: (ManagedObjectReference) -> ManagedObjectReference?) -> ManagedObjectReference? {
        var node = start
        for _ in 0..<64 {
            guard let current = node else { return nil }
            if current.type == type { return current }
            node = parent(current)
        }
        return nil
    }

    /// One VM's current state (by moref), for a backup.
    public func virtualMachine(_ moref: String) async throws -> VirtualMachineInfo {
        let vm = ManagedObjectReference(type: "VirtualMachine", value: moref)
        let p = try await properties(of: vm, ["name", "config.changeTrackingEnabled", "config.hardware.device", "runtime.powerState", "config.instanceUuid"])
        return VirtualMachineInfo(
            moref: moref, name: p["name"]?.text ?? moref, instanceUuid: p["config.instanceUuid"]?.text,
            powerState: p["runtime.powerState"]?.text,
            changeTrackingEnabled: p["config.changeTrackingEnabled"]?.text == "true", isTemplate: false,
            disks: VirtualDiskInfo.disks(in: p["config.hardware.device"]))
    }

    /// The name of the ESXi host a VM runs on (as vCenter knows it, which is
    /// how the ssh transport reaches it): two small reads, not a discovery.
    public func hostName(ofVM moref: String) async throws -> String? {
        let vm = ManagedObjectReference(type: "VirtualMachine", value: moref)
        guard let host = try await properties(of: vm, ["runtime.host"])["runtime.host"]?.reference else { return nil }
        return try await properties(of: host, ["name"])["name"]?.text
    }

    /// Turns on Changed Block Tracking (takes effect at the next snapshot).
    public func enableChangeTracking(vm moref: String) async throws {
        try await runTask("ReconfigVM_Task", on: ManagedObjectReference(type: "VirtualMachine", value: moref),
                          "<spec><changeTrackingEnabled>true</changeTrackingEnabled></spec>")
    }

    /// Creates a snapshot without memory; answers its reference.
    public func createSnapshot(vm moref: String, name: String, description: String, quiesce: Bool) async throws -> ManagedObjectReference {
        let result = try await runTask("CreateSnapshot_Task", on: ManagedObjectReference(type: "VirtualMachine", value: moref),
            SOAP.element("name", name) + SOAP.element("description", description) + SOAP.element("memory", "false")
                + SOAP.element("quiesce", quiesce ? "true" : "false"))
        guard let snapshot = result?.reference else { throw VSphereError.badResponse("CreateSnapshot_Task returned no snapshot") }
        return snapshot
    }

    /// Removes one snapshot (its data is consolidated into the VM's disks).
    public func removeSnapshot(_ snapshot: ManagedObjectReference) async throws {
        try await runTask("RemoveSnapshot_Task", on: snapshot, SOAP.element("removeChildren", "false") + SOAP.element("consolidate", "true"))
    }

    /// The snapshots of a VM, flattened from its snapshot tree: name and reference.
    public func snapshots(vm moref: String) async throws -> [(name: String, snapshot: ManagedObjectReference)] {
        let vm = ManagedObjectReference(type: "VirtualMachine", value: moref)
        return Self.flatten(try await properties(of: vm, ["snapshot.rootSnapshotList"])["snapshot.rootSnapshotList"])
    }

    /// The snapshots of every VM that has any, by moref, in one retrieval.
    public func snapshotsOfAllVMs() async throws -> [String: [(name: String, snapshot: ManagedObjectReference)]] {
        let objects = try await inventory(types: ["VirtualMachine"], [PropertySpec(type: "VirtualMachine", paths: ["snapshot.rootSnapshotList"])])
        var result: [String: [(name: String, snapshot: ManagedObjectReference)]] = [:]
        for object in objects {
            let snapshots = Self.flatten(object.properties["snapshot.rootSnapshotList"])
            if !snapshots.isEmpty { result[object.object.value] = snapshots }
        }
        return result
    }

    private static func flatten(_ roots: SOAPElement?) -> [(name: String, snapshot: ManagedObjectReference)] {
        var found: [(name: String, snapshot: ManagedObjectReference)] = []
        func walk(_ trees: [SOAPElement]) {
            for tree in trees {
                if let name = tree.text("name"), let ref = tree["snapshot"]?.reference { found.append((name, ref)) }
                walk(tree.all("childSnapshotList"))
            }
        }
        walk(roots?.children ?? [])
        return found
    }

    /// The areas of a disk to copy: every allocated area for `changeId` "*",
    /// else what changed since `changeId`, from `QueryChangedDiskAreas` paged
    /// by startOffset up to the disk's end.
    public func changedAreas(vm moref: String, snapshot: ManagedObjectReference, deviceKey: Int,
                             capacity: UInt64, since changeId: String) async throws -> [ChangedArea] {
        let vm = ManagedObjectReference(type: "VirtualMachine", value: moref)
        var areas: [ChangedArea] = []
        var offset: UInt64 = 0
        while offset < capacity {
            let answer = try await invoke("QueryChangedDiskAreas", on: vm,
                SOAP.reference("snapshot", snapshot) + SOAP.element("deviceKey", String(deviceKey))
                    + SOAP.element("startOffset", String(offset)) + SOAP.element("changeId", changeId))
            guard let value = answer["returnval"] else { throw VSphereError.badResponse("QueryChangedDiskAreas returned nothing") }
            let info = try DiskChangeInfo.parse(value)
            guard info.length > 0, info.startOffset == offset else {
                throw VSphereError.badResponse("QueryChangedDiskAreas made no progress at offset \(offset)")
            }
            for area in info.areas where area.length > 0 {
                guard area.start >= info.startOffset, area.start + area.length <= min(capacity, info.startOffset + info.length) else {
                    throw VSphereError.badResponse("a changed area (\(area.start)+\(area.length)) lies outside the answered range")
                }
                areas.append(area)
            }
            offset = info.startOffset + info.length
        }
        return areas
    }
}
