import ArgumentParser
import Foundation
import SendenseAPI

struct LibvirtCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "libvirt", abstract: "Discover the domains of a libvirt host (this machine, or another through SSH) and protect them (backed up live while they run).",
        subcommands: [Discover.self, Add.self], defaultSubcommand: Discover.self)

    struct Discover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the domains of a libvirt host, running or not, with their disks.")
        @OptionGroup var options: ClientOptions
        @Option(help: "libvirt URI: qemu:///system, qemu:///session, or qemu+ssh://[user@]host[:port]/system[?keyfile=PATH] (the hub user's SSH key and known_hosts).") var uri = "qemu:///system"
        @Option(help: "Name pattern (*, ?, [..]) or a part of the name.") var filter: String?

        func run() async throws {
            let answer = try await APIClient.make(options).send(
                .POST, "/discovery/libvirt/discover-vms", body: LibvirtDiscoverRequest(uri: uri, filter: filter), as: LibvirtDiscoverResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["NAME", "STATE", "CPUS", "MEMORY", "FIRMWARE", "DISKS", "CONTEXT"])
            for domain in answer.value.domains {
                let disks = domain.disks.map { disk in
                    "\(disk.target) \(disk.capacityBytes.map { humanBytes($0) } ?? "?")" + (disk.problem.map { " (not backed up: \($0))" } ?? "")
                }
                table.rows.append([domain.name, domain.powerState, cell(domain.cpuCount), "\(domain.memoryMb) MiB", domain.firmware,
                                   disks.joined(separator: ", "), cell(domain.contextId)])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Protect domains: each becomes a VM of its name; adding one again refreshes it.",
            discussion: "Examples: sendense libvirt add web1 db1; sendense libvirt add --uri qemu+ssh://root@kvm1/system web7")
        @OptionGroup var options: ClientOptions
        @Option(help: "libvirt URI: qemu:///system, qemu:///session, or qemu+ssh://[user@]host[:port]/system[?keyfile=PATH] (the hub user's SSH key and known_hosts).") var uri = "qemu:///system"
        @Argument(help: "Domain names.") var domains: [String]

        func run() async throws {
            let answer = try await APIClient.make(options).send(
                .POST, "/discovery/libvirt/add-vms", body: LibvirtAddVMsRequest(uri: uri, domains: domains), as: AddVMsResponse.self)
            if options.json { return try answer.printJSON() }
            for context in answer.value.added { print("added \(context.vmName) (\(context.contextId))") }
        }
    }
}
