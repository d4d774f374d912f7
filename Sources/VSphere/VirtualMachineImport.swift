import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOSSL

/// Where a VM is created: a host (and so its compute resource's root
/// resource pool and its datacenter's VM folder) and a datastore it sees.
public struct VMwarePlacement: Sendable, Equatable {
    public var host: ManagedObjectReference
    public var hostName: String
    public var resourcePool: ManagedObjectReference
    public var vmFolder: ManagedObjectReference
    public var datacenter: String
    public var datastore: String
    /// The networks the host is on, by name.
    public var networks: [String: VMwareNetwork]

    /// The network a kept NIC was on, when this host is on it too: a standard
    /// port group by name, a distributed one by its key.
    public func network(of nic: VMwareHardware.NIC) -> VMwareNetwork? {
        networks.values.first { network in
            switch network {
            case .standard(let name, _): name == nic.network
            case .distributed(_, let key, _): key == nic.network
            }
        }
    }
}

/// A network a NIC can be put on.
public enum VMwareNetwork: Sendable, Equatable {
    /// A standard port group (`Network`).
    case standard(name: String, ManagedObjectReference)
    /// A distributed port group: its key and its switch's UUID.
    case distributed(name: String, portgroupKey: String, switchUuid: String)

    public var name: String {
        switch self {
        case .standard(let name, _), .distributed(let name, _, _): name
        }
    }
}

/// One disk of an import lease: where its content is uploaded.
public struct NFCDeviceURL: Sendable, Equatable {
    public var key: String
    public var url: String
    /// The SHA-1 thumbprint of the host serving `url`, when vCenter gives it.
    public var sslThumbprint: String?
}

extension VSphereClient {
    /// Finds a host (by name; nil: the first connected one that sees the
    /// datastore) and a datastore it sees, and what an import needs of them.
    public func placement(host hostName: String?, datastore: String) async throws -> VMwarePlacement {
        let objects = try await inventory(
            types: ["HostSystem", "Datastore", "Network", "DistributedVirtualPortgroup", "Datacenter", "Folder", "ComputeResource"],
            [PropertySpec(type: "HostSystem", paths: ["name", "parent", "datastore", "network", "runtime.connectionState"]),
             PropertySpec(type: "Datastore", paths: ["name"]),
             PropertySpec(type: "Network", paths: ["name"]),
             PropertySpec(type: "DistributedVirtualPortgroup", paths: ["name", "key", "config.distributedVirtualSwitch"]),
             PropertySpec(type: "Datacenter", paths: ["name", "parent", "vmFolder"]),
             PropertySpec(type: "Folder", paths: ["parent"]),
             PropertySpec(type: "ComputeResource", paths: ["parent", "resourcePool"])])
        var byRef: [ManagedObjectReference: [String: SOAPElement]] = [:]
        for object in objects { byRef[object.object] = object.properties }
        let hosts = objects.filter { $0.object.type == "HostSystem" }
        guard let store = objects.first(where: { $0.object.type == "Datastore" && $0.properties["name"]?.text == datastore }) else {
            let known = objects.filter { $0.object.type == "Datastore" }.compactMap { $0.properties["name"]?.text }.sorted()
            throw VSphereError.notFound("datastore \"\(datastore)\" (this vCenter has: \(known.joined(separator: ", ")))")
        }
        func sees(_ host: ObjectContent) -> Bool {
            host.properties["datastore"]?.children.contains { $0.reference == store.object } == true
        }
        let chosen: ObjectContent
        if let hostName {
            guard let named = hosts.first(where: { $0.properties["name"]?.text == hostName }) else {
                let known = hosts.compactMap { $0.properties["name"]?.text }.sorted()
                throw VSphereError.notFound("host \"\(hostName)\" (this vCenter has: \(known.joined(separator: ", ")))")
            }
            guard sees(named) else { throw VSphereError.notFound("datastore \"\(datastore)\" on host \(hostName)") }
            chosen = named
        } else {
            guard let first = hosts.first(where: { sees($0) && $0.properties["runtime.connectionState"]?.text == "connected" }) else {
                throw VSphereError.notFound("a connected host that sees datastore \"\(datastore)\"")
            }
            chosen = first
        }
        // The host's compute resource (a cluster's too: ClusterComputeResource is one) holds the root pool.
        guard let compute = chosen.properties["parent"]?.reference,
              let pool = try await properties(of: compute, ["resourcePool"])["resourcePool"]?.reference else {
            throw VSphereError.badResponse("host \(chosen.object.value) has no compute resource with a resource pool")
        }
        guard let datacenter = Self.ancestor(of: compute, type: "Datacenter", parent: { byRef[$0]?["parent"]?.reference }),
              let vmFolder = byRef[datacenter]?["vmFolder"]?.reference else {
            throw VSphereError.badResponse("the datacenter of host \(chosen.object.value) was not found")
        }
        var networks: [String: VMwareNetwork] = [:]
        for reference in chosen.properties["network"]?.children.compactMap(\.reference) ?? [] {
            guard let properties = byRef[reference], let name = properties["name"]?.text else { continue }
            if reference.type == "DistributedVirtualPortgroup" {
                guard let key = properties["key"]?.text, let dvs = properties["config.distributedVirtualSwitch"]?.reference,
                      let uuid = try await self.properties(of: dvs, ["uuid"])["uuid"]?.text else { continue }
                networks[name] = .distributed(name: name, portgroupKey: key, switchUuid: uuid)
            } else {
                networks[name] = .standard(name: name, reference)
            }
        }
        return VMwarePlacement(host: chosen.object, hostName: chosen.properties["name"]?.text ?? chosen.object.value, resourcePool: pool,
                               vmFolder: vmFolder, datacenter: byRef[datacenter]?["name"]?.text ?? datacenter.value, datastore: datastore,
                               networks: networks)
    }

    /// Creates the VM `spec` describes through `ImportVApp` and answers the
    /// import lease and the new VM. Its disks are empty until uploaded.
    public func importVM(_ spec: VMwareImportSpec, at placement: VMwarePlacement) async throws -> (lease: ManagedObjectReference, vm: ManagedObjectReference) {
        let answer = try await invoke("ImportVApp", on: placement.resourcePool,
            "<spec xsi:type=\"VirtualMachineImportSpec\">" + spec.configSpecXML(datastore: placement.datastore) + "</spec>"
                + SOAP.reference("folder", placement.vmFolder) + SOAP.reference("host", placement.host))
        guard let lease = answer["returnval"]?.reference else { throw VSphereError.badResponse("ImportVApp returned no lease") }
        let entity = try await properties(of: lease, ["info"])["info"]?["entity"]?.reference
        guard let vm = entity else {
            await abortLease(lease, reason: "no VM")
            throw VSphereError.badResponse("the import lease names no VM")
        }
        return (lease, vm)
    }

    /// Waits until the lease is ready; answers its disks' upload URLs, in
    /// the order of the VM's disks (`*` as host means vCenter's own).
    public func leaseDisks(_ lease: ManagedObjectReference) async throws -> [NFCDeviceURL] {
        var delay = Duration.milliseconds(100)
        while true {
            let properties = try await properties(of: lease, ["state", "error", "info"])
            switch properties["state"]?.text {
            case "ready":
                let urls = properties["info"]?.all("deviceUrl") ?? []
                return urls.filter { $0.bool("disk") != false }.compactMap { device in
                    guard let url = device.text("url") else { return nil }
                    return NFCDeviceURL(key: device.text("key") ?? "", url: url.replacingOccurrences(of: "://*", with: "://" + endpoint.baseURL.dropFirst("https://".count)),
                                        sslThumbprint: device.text("sslThumbprint"))
                }
            case "error":
                throw VSphereError.taskFailed(task: "ImportVApp", properties["error"].map(SOAPFault.parseLocalized)
                                              ?? SOAPFault(type: "Fault", message: "the import lease failed"))
            case "initializing":
                try await Task.sleep(for: delay)
                delay = min(delay * 2, .seconds(1))
            default:
                throw VSphereError.badResponse("import lease \(lease.value) is \(properties["state"]?.text ?? "without state")")
            }
        }
    }

    /// Tells vCenter how far the upload is; it also keeps the lease from timing out.
    public func leaseProgress(_ lease: ManagedObjectReference, percent: Int) async throws {
        _ = try await invoke("HttpNfcLeaseProgress", on: lease, SOAP.element("percent", String(max(0, min(100, percent)))))
    }

    public func completeLease(_ lease: ManagedObjectReference) async throws {
        _ = try await invoke("HttpNfcLeaseComplete", on: lease)
    }

    /// Ends a lease that will not complete; vCenter then drops what it imported so far.
    public func abortLease(_ lease: ManagedObjectReference, reason: String) async {
        let fault = "<fault xsi:type=\"LocalizedMethodFault\"><fault xsi:type=\"SystemError\">"
            + SOAP.element("reason", reason) + "</fault>" + SOAP.element("localizedMessage", reason) + "</fault>"
        _ = try? await invoke("HttpNfcLeaseAbort", on: lease, fault)
    }

    /// Uploads one disk of a lease as a streamOptimized VMDK: `produce` hands
    /// the file's pieces in order to its argument, which returns once the
    /// piece is on the wire (so memory holds a piece or two, whatever the disk).
    /// The body is chunked: a VMDK's size is known only at its end.
    public func upload(_ device: NFCDeviceURL,
                       produce: @escaping @Sendable (_ send: @escaping @Sendable (ByteBuffer) async throws -> Void) async throws -> Void) async throws {
        let (client, owned) = try await uploadClient(for: device)
        var request = try HTTPClient.Request(url: device.url, method: .POST)
        request.headers.add(name: "Content-Type", value: "application/x-vnd.vmware-streamVmdk")
        request.headers.add(name: "Cookie", value: try await sessionCookie())
        let loop = client.eventLoopGroup.next()
        request.body = .stream(contentLength: nil) { writer in
            let done = loop.makePromise(of: Void.self)
            done.completeWithTask {
                try await produce { piece in try await writer.write(.byteBuffer(piece)).get() }
            }
            return done.futureResult
        }
        let response: HTTPClient.Response
        do {
            // A cancelled job cancels the request; the body's next write then fails, which ends `produce`.
            let transfer = client.execute(request: request, delegate: ResponseAccumulator(request: request), deadline: .now() + .hours(24))
            response = try await withTaskCancellationHandler {
                try await transfer.futureResult.get()
            } onCancel: {
                transfer.cancel()
            }
            if owned { try? await client.shutdown() }
        } catch {
            if owned { try? await client.shutdown() }
            throw VSphereError.unreachable("uploading to \(device.url): \(error)")
        }
        guard (200..<300).contains(response.status.code) else {
            throw VSphereError.http(status: Int(response.status.code), message: "upload to \(device.url): \(response.status.reasonPhrase)")
        }
    }

    /// vCenter's own client when the upload goes to vCenter; otherwise (an
    /// ESXi host) a client of its own trusting the thumbprint vCenter gave
    /// for that host, or the vCenter's trust when it gave none.
    private func uploadClient(for device: NFCDeviceURL) async throws -> (HTTPClient, owned: Bool) {
        guard let url = URL(string: device.url), let host = url.host else { throw VSphereError.badResponse("an upload URL that does not parse: \(device.url)") }
        if host == endpoint.host || "[\(endpoint.host)]" == host { return (try await httpClient(), false) }
        var tls = TLSConfiguration.makeClientConfiguration()
        if let thumbprint = device.sslThumbprint {
            tls.trustRoots = .certificates(try await CertificatePin.verifiedChain(host: host, port: url.port ?? 443, thumbprint: thumbprint))
            tls.certificateVerification = .noHostnameVerification
        } else if endpoint.trust == .insecure {
            tls.certificateVerification = .none
        } else if case .pinned = endpoint.trust {
            throw VSphereError.badResponse("vCenter gave no certificate thumbprint for the host \(host) its upload goes to")
        }
        var configuration = HTTPClient.Configuration(tlsConfiguration: tls)
        configuration.timeout = .init(connect: .seconds(15), read: .seconds(600))
        configuration.redirectConfiguration = .disallow
        return (HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration), true)
    }

    /// Destroys a VM (powered off first when it runs): the undo of an import.
    public func destroyVM(_ vm: ManagedObjectReference) async throws {
        if (try? await properties(of: vm, ["runtime.powerState"])["runtime.powerState"]?.text) == "poweredOn" {
            _ = try? await runTask("PowerOffVM_Task", on: vm)
        }
        try await runTask("Destroy_Task", on: vm)
    }

    /// The VMs named `name` whose annotation contains `marker`: what an
    /// import cut short before its VM was recorded left behind.
    public func virtualMachines(named name: String, annotated marker: String) async throws -> [ManagedObjectReference] {
        try await inventory(types: ["VirtualMachine"], [PropertySpec(type: "VirtualMachine", paths: ["name", "config.annotation"])])
            .filter { $0.properties["name"]?.text == name && $0.properties["config.annotation"]?.text.contains(marker) == true }
            .map(\.object)
    }

    public func powerOn(_ vm: ManagedObjectReference) async throws {
        try await runTask("PowerOnVM_Task", on: vm)
    }
}
