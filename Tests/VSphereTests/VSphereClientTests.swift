import Foundation
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
