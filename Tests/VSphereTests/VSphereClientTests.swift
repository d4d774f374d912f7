import Foundation
import NIOCore
import Testing
import TestSupport
@testable import VSphere

/// The SOAP client against the test vCenter (govmomi's vcsim plus change tracking).
@Suite(.serialized, .removesScratch) struct VSphereClientTests {
    func client(_ sim: VCSim, password: String? = nil, trust: CertificateTrust = .insecure) -> VSphereClient {
        VSphereClient(endpoint: VCenterEndpoint(host: sim.host, port: sim.port, trust: trust),
                      username: sim.info.username, password: password ?? sim.info.password)
    }

    @Test func loginAndLogout() async throws {
        let sim = try VCSim()
        let vc = client(sim)
        let content = try await vc.serviceContent()
        #expect(content.apiType == "VirtualCenter")
        #expect(try await vc.sessionCookie().hasPrefix("vmware_soap_session="))
        await vc.close()
        // A closed client logs in again when used.
        #expect(try await vc.virtualMachines().count == 4)
        await vc.close()
    }

    @Test func wrongPasswordIsInvalidLogin() async throws {
        let sim = try VCSim()
        let vc = client(sim, password: "wrong")
        await #expect {
            try await vc.serviceContent()
        } throws: { error in
            (error as? VSphereError)?.isInvalidLogin == true
        }
        await vc.close()
    }

    @Test func pinnedThumbprints() async throws {
        let sim = try VCSim()
        for pin in [sim.info.sha1_thumbprint, sim.info.sha256_thumbprint.lowercased()] {
            let vc = client(sim, trust: .pinned(thumbprint: pin))
            #expect(try await vc.virtualMachines().count == 4)
            #expect(await vc.pinnedChainPEM?.hasPrefix("-----BEGIN CERTIFICATE-----") == true)
            await vc.close()
        }
        let wrong = client(sim, trust: .pinned(thumbprint: String(repeating: "AB:", count: 19) + "AB"))
        await #expect {
            try await wrong.serviceContent()
        } throws: { error in
            guard case .certificateMismatch(_, let presented)? = error as? VSphereError else { return false }
            return presented == sim.info.sha1_thumbprint
        }
        await wrong.close()
        // The system CA store does not know vcsim's self-signed certificate.
        let strict = client(sim, trust: .systemRoots)
        let start = ContinuousClock.now
        await #expect(throws: VSphereError.self) { try await strict.serviceContent() }
        print("systemRoots refusal took \(ContinuousClock.now - start)")
        await strict.close()
    }

    @Test func discoveryOfAThousandVMsInOneRetrieval() async throws {
        let sim = try VCSim(vms: 1000)
        let vc = client(sim)
        _ = try await vc.serviceContent()
        let start = ContinuousClock.now
        let vms = try await vc.virtualMachines()
        let elapsed = ContinuousClock.now - start
        #expect(vms.count == 1000)
        #expect(Set(vms.map(\.moref)).count == 1000)
        let vm = try #require(vms.first { $0.name == "DC0_H0_VM0" })
        #expect(vm.datacenter == "DC0")
        #expect(vm.host?.isEmpty == false)
        #expect(vm.powerState == "poweredOn")
        #expect(vm.cpuCount == 1 && vm.memoryMB == 32)
        #expect(vm.vmxPath?.hasSuffix("DC0_H0_VM0.vmx") == true)
        #expect(vm.instanceUuid?.isEmpty == false)
        #expect(vm.disks.count == 1 && vm.disks[0].key > 0 && vm.disks[0].capacityBytes == 1 << 20)
        #expect(vm.disks[0].fileName == "[LocalDS_0] DC0_H0_VM0/disk1.vmdk")
        print("discovery of 1,000 VMs: \(elapsed)")
        await vc.close()
    }

    @Test func snapshotsAndChangeTracking() async throws {
        let sim = try VCSim(vms: 2, diskMB: 4, pageAreas: 2)
        let vc = client(sim)
        let vm = try #require(try await vc.virtualMachines().first)
        #expect(!vm.changeTrackingEnabled)
        try await vc.enableChangeTracking(vm: vm.moref)
        #expect(try await vc.virtualMachine(vm.moref).changeTrackingEnabled)
        // The ssh transport's way to the VM's host agrees with discovery.
        #expect(try await vc.hostName(ofVM: vm.moref) == vm.host)
        #expect(vm.host?.isEmpty == false)

        // Three separate areas written, so a page of 2 areas needs a second query.
        let file = try #require(FileHandle(forUpdatingAtPath: sim.flatExtent(vm: vm.name)))
        for offset in [0, 1 << 20, 3 << 20] {
            try file.seek(toOffset: UInt64(offset))
            file.write(Data(repeating: 0x5A, count: 4096))
        }
        let first = try await vc.createSnapshot(vm: vm.moref, name: "sendense-test", description: "test", quiesce: false)
        let (hardware, disks) = try await vc.snapshotConfiguration(first)
        let disk = try #require(disks.first)
        // The hardware a restore recreates, as the snapshot holds it.
        #expect(hardware.name == vm.name && hardware.cpuCount == vm.cpuCount && hardware.memoryMB == vm.memoryMB)
        #expect(hardware.disks.map(\.key) == disks.map(\.key) && hardware.disks.first?.capacityBytes == disk.capacityBytes)
        #expect(hardware.controllers.contains { $0.key == hardware.disks.first?.controllerKey })
        #expect(!hardware.nics.isEmpty && hardware.nics.allSatisfy { $0.network != nil }, "\(hardware.nics)")
        #expect(try VMwareHardware(json: hardware.json()) == hardware)
        print("vcsim VM hardware: \(try hardware.json())")
        let changeId = try #require(disk.changeId)
        let allocated = try await vc.changedAreas(vm: vm.moref, snapshot: first, deviceKey: disk.key, capacity: UInt64(disk.capacityBytes), since: "*")
        #expect(allocated == [ChangedArea(start: 0, length: 65536), ChangedArea(start: 1 << 20, length: 65536), ChangedArea(start: 3 << 20, length: 65536)])
        #expect(try await vc.snapshots(vm: vm.moref).map(\.name) == ["sendense-test"])

        try file.seek(toOffset: 2 << 20)
        file.write(Data(repeating: 0x33, count: 100))
        try file.close()
        let second = try await vc.createSnapshot(vm: vm.moref, name: "sendense-test2", description: "", quiesce: false)
        let changed = try await vc.changedAreas(vm: vm.moref, snapshot: second, deviceKey: disk.key, capacity: UInt64(disk.capacityBytes), since: changeId)
        #expect(changed == [ChangedArea(start: 2 << 20, length: 65536)])

        // A change id vCenter does not know (CBT was reset) is an InvalidArgument fault naming changeId.
        await #expect {
            _ = try await vc.changedAreas(vm: vm.moref, snapshot: second, deviceKey: disk.key, capacity: 4 << 20, since: "52 00/99")
        } throws: { error in
            guard case .fault(let fault)? = error as? VSphereError else { return false }
            return fault.type == "InvalidArgument" && fault.invalidProperty == "changeId"
        }
        try await vc.removeSnapshot(second)
        try await vc.removeSnapshot(first)
        #expect(try await vc.snapshots(vm: vm.moref).isEmpty)
        // A removed snapshot is gone: vCenter says which object.
        await #expect {
            try await vc.removeSnapshot(first)
        } throws: { error in
            guard case .fault(let fault)? = error as? VSphereError else { return false }
            return fault.type == "ManagedObjectNotFound"
        }
        await vc.close()
    }

    @Test("a VM is created from kept hardware by ImportVApp, its disk uploaded through the lease, and destroyed again")
    func importVMFromHardware() async throws {
        let sim = try VCSim(vms: 2, diskMB: 4)
        let vc = client(sim)
        let vm = try #require(try await vc.virtualMachines().first)
        let snapshot = try await vc.createSnapshot(vm: vm.moref, name: "kept", description: "", quiesce: false)
        let hardware = try await vc.snapshotConfiguration(snapshot).hardware
        let placement = try await vc.placement(host: nil, datastore: sim.info.datastore)
        let nic = try #require(hardware.nics.first)
        let network = try #require(placement.network(of: nic), "\(placement.networks)")
        let spec = VMwareImportSpec(name: "restored-vm", annotation: "Restored by Sendense (restore-test)", hardware: hardware,
                                    networks: [nic.key: network], keepMACs: true)
        let (lease, created) = try await vc.importVM(spec, at: placement)
        let disks = try await vc.leaseDisks(lease)
        #expect(disks.count == hardware.disks.count, "\(disks)")
        let content = (0..<300_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        try await vc.upload(try #require(disks.first)) { send in
            // In pieces, as a disk is sent.
            for start in stride(from: 0, to: content.count, by: 65536) {
                try await send(ByteBuffer(bytes: content[start..<min(content.count, start + 65536)]))
            }
        }
        try await vc.leaseProgress(lease, percent: 100)
        try await vc.completeLease(lease)
        let uploaded = try FileManager.default.contentsOfDirectory(atPath: sim.uploadFolder)
        #expect(uploaded.count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: sim.uploadFolder + "/" + (uploaded.first ?? ""))) == Data(content))

        // Read back: what was kept is what vCenter now has.
        let properties = try await vc.properties(of: created, VMwareHardware.configProperties)
        let made = try VMwareHardware(properties)
        #expect(made.name == "restored-vm" && made.cpuCount == hardware.cpuCount && made.memoryMB == hardware.memoryMB)
        #expect(made.guestId == hardware.guestId && made.firmware == hardware.firmware)
        #expect(made.disks.map(\.capacityBytes) == hardware.disks.map(\.capacityBytes))
        #expect(made.nics.map(\.network) == [nic.network] && made.nics.first?.macAddress == nic.macAddress, "\(made.nics)")
        #expect(try await vc.virtualMachines(named: "restored-vm", annotated: "(restore-test)") == [created])
        try await vc.destroyVM(created)
        #expect(try await vc.virtualMachines(named: "restored-vm", annotated: "(restore-test)").isEmpty)
        await vc.close()
    }

    @Test func failingTaskCarriesItsFault() async throws {
        let sim = try VCSim(vms: 2)
        let vc = client(sim)
        let vm = try #require(try await vc.virtualMachines().first)
        try sim.failNext("CreateSnapshot_Task")
        await #expect {
            _ = try await vc.createSnapshot(vm: vm.moref, name: "x", description: "", quiesce: true)
        } throws: { error in
            guard case .taskFailed(_, let fault)? = error as? VSphereError else { return false }
            return fault.type == "InvalidState"
        }
        #expect(try await vc.snapshots(vm: vm.moref).isEmpty)
        await vc.close()
    }

    @Test func logsInAgainAfterTheSessionExpired() async throws {
        let sim = try VCSim(vms: 2, sessionIdleSeconds: 1)
        let vc = client(sim)
        _ = try await vc.virtualMachines()
        #expect(await vc.logins == 1)
        try await Task.sleep(for: .seconds(3))
        #expect(try await vc.virtualMachines().count == 2)
        #expect(await vc.logins == 2)
        await vc.close()
    }
}
