import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

extension RestoreCommand {
    /// `sendense restore vm`: a restore point's VM as a new libvirt domain or
    /// vCenter VM, waiting until it is defined.
    struct VM: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm",
            abstract: "Restore a VM: a new libvirt domain on the hub's host (disks restored to qcow2 files), or a new VM in vCenter "
                + "(--vcenter), from the point's configuration.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The restore point (backup id): of a libvirt domain, or of a VMware VM for --vcenter.") var backupID: String
        @Option(help: "An existing folder on the hub's host; each disk becomes <domain>-<disk>.qcow2 in it.") var to: String?
        @Option(help: "Or a libvirt storage pool of files (dir, fs, netfs), e.g. default.") var pool: String?
        @Option(help: "Or a vCenter: the id of its stored credential (sendense vmware credentials).") var vcenter: Int64?
        @Option(help: "With --vcenter: the datastore for the VM's files.") var datastore: String?
        @Option(help: "With --vcenter: the ESXi host (default: the first connected one that sees the datastore).") var host: String?
        @Option(help: "The new VM's name (default: <vm>-restored-<id>).") var name: String?
        @Option(help: "'none' for no NIC, or a network (libvirt network, vCenter port group) for every NIC (default: as the VM had them).")
        var network: String?
        @Flag(help: "Keep the original's MAC addresses (default: new ones).") var keepMacs = false
        @Flag(help: "Start (power on) the VM once it is defined.") var start = false
        @Option(help: "The libvirt daemon of the hub's host.") var uri: String?

        func validate() throws {
            if [to != nil, pool != nil, vcenter != nil].filter({ $0 }).count != 1 {
                throw ValidationError("give exactly one of --to, --pool and --vcenter")
            }
            if vcenter != nil, datastore == nil { throw ValidationError("--vcenter needs --datastore") }
            if vcenter == nil, datastore != nil || host != nil { throw ValidationError("--datastore and --host go with --vcenter") }
        }

        func run() async throws {
            let client = try APIClient.make(options)
            let target: VMRestoreRequest.Target = vcenter == nil
                ? .init(uri: uri, directory: to, pool: pool)
                : .init(type: VMRestoreTargetType.vcenter.rawValue, credentialId: vcenter, host: host, datastore: datastore)
            let request = VMRestoreRequest(backupId: backupID, target: target, name: name, network: network, keepMacs: keepMacs, start: start)
            var answer = try await client.send(.POST, "/restore/vm", body: request, as: VMRestoreResponse.self)
            while answer.value.status == .inProgress {
                if !options.json { print("\(answer.value.jobId) \(answer.value.status.rawValue) \(cell(answer.value.progressPercent))%") }
                try await Task.sleep(for: .seconds(1))
                answer = try await client.send(.GET, "/restore/vm/\(answer.value.jobId)", as: VMRestoreResponse.self)
            }
            if options.json { try answer.printJSON() }
            let restore = answer.value
            guard restore.status == .completed else { throw CLIError("VM restore \(restore.status.rawValue): \(cell(restore.errorMessage))") }
            if !options.json {
                let place = restore.vcenter.map { "vCenter host \($0.host), datastore \($0.datastore) (\($0.vmMoref ?? "-"))" }
                    ?? restore.libvirtUri ?? "-"
                print("VM \(restore.domainName) (\(restore.domainUuid ?? "-")) defined\(restore.start ? " and started" : "") on \(place)")
                for disk in restore.disks { print("  \(disk.target): \(disk.path)") }
            }
        }
    }
}
