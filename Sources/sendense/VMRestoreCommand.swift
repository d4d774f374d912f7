import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

extension RestoreCommand {
    /// `sendense restore vm`: a restore point's VM as a new libvirt domain, waiting until it is defined.
    struct VM: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "vm",
            abstract: "Restore a VM: a new libvirt domain on the hub's host from the point's configuration, its disks restored to qcow2 files.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "The restore point (backup id) of a libvirt domain.") var backupID: String
        @Option(help: "An existing folder on the hub's host; each disk becomes <domain>-<disk>.qcow2 in it.") var to: String?
        @Option(help: "Or a libvirt storage pool of files (dir, fs, netfs), e.g. default.") var pool: String?
        @Option(help: "The new domain's name (default: <vm>-restored-<id>).") var name: String?
        @Option(help: "'none' for no NIC, or a libvirt network for every NIC (default: as the VM had them).") var network: String?
        @Flag(help: "Keep the original's MAC addresses (default: new ones).") var keepMacs = false
        @Flag(help: "Start the VM once it is defined.") var start = false
        @Option(help: "The libvirt daemon of the hub's host.") var uri: String?

        func validate() throws {
            if (to == nil) == (pool == nil) { throw ValidationError("give exactly one of --to and --pool") }
        }

        func run() async throws {
            let client = try APIClient.make(options)
            let request = VMRestoreRequest(backupId: backupID, target: .init(uri: uri, directory: to, pool: pool), name: name,
                                           network: network, keepMacs: keepMacs, start: start)
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
                print("domain \(restore.domainName) (\(restore.domainUuid ?? "-")) defined\(restore.start ? " and started" : "") on \(restore.libvirtUri)")
                for disk in restore.disks { print("  \(disk.target): \(disk.path)") }
            }
        }
    }
}
