import ArgumentParser
import Foundation
import SendenseAPI

struct VCenterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vcenter", abstract: "Manage vCenter credentials and discover their VMs.",
        subcommands: [List.self, Add.self, Test.self, Delete.self, Discover.self, AddVMs.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List vCenter credentials.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).send(.GET, "/vmware-credentials", as: VMwareCredentialListResponse.self)
            if options.json { return try answer.printJSON() }
            var table = Table(headers: ["ID", "NAME", "HOST", "PORT", "USER", "DATACENTER", "TRUST", "TRANSPORT", "VMS"])
            for credential in answer.value.credentials {
                let trust = credential.thumbprint != nil ? "pinned" : credential.insecure ? "insecure" : "CA"
                table.rows.append([
                    cell(credential.id), credential.name, credential.vcenterHost, cell(credential.vcenterPort), credential.username,
                    cell(credential.datacenter), trust, credential.transport, cell(credential.vmCount),
                ])
            }
            print(table.render())
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a vCenter; the password is read from standard input.",
            discussion: "Example: echo \"$PASS\" | sendense vcenter add prod vc.example.com --username backup@vsphere.local --thumbprint AB:CD:…")
        @OptionGroup var options: ClientOptions
        @Argument(help: "A name for this vCenter.") var name: String
        @Argument(help: "vCenter host name or IP.") var host: String
        @Option(help: "HTTPS port.") var port = 443
        @Option(help: "Account name.") var username: String
        @Option(help: "Limit discovery to this datacenter.") var datacenter: String?
        @Option(help: "Pin the certificate: its SHA-1 or SHA-256 thumbprint.") var thumbprint: String?
        @Flag(help: "Accept any certificate (labs only).") var insecure = false
        @Option(help: "How disks are read: https, vddk or ssh.") var transport = "https"

        func run() async throws {
            guard let password = readLine(strippingNewline: true), !password.isEmpty else {
                throw CLIError("give the vCenter password on standard input")
            }
            let request = VMwareCredentialRequest(name: name, vcenterHost: host, vcenterPort: port, username: username, password: password,
                                                  datacenter: datacenter, thumbprint: thumbprint, insecure: insecure, transport: transport)
            let answer = try await APIClient.make(options).send(.POST, "/vmware-credentials", body: request, as: VMwareCredentialResponse.self)
            if options.json { return try answer.printJSON() }
            print("added vCenter \(name) as credential \(answer.value.id)")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log in to a vCenter and count its VMs.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/vmware-credentials/\(id)/test", as: CredentialTestResponse.self)
            if options.json { return try answer.printJSON() }
            let result = answer.value
            guard result.success else { throw CLIError(result.message) }
            print("\(result.message): \(cell(result.vmCount)) VMs")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a vCenter credential.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int

        func run() async throws {
            try await APIClient.make(options).send(.DELETE, "/vmware-credentials/\(id)")
            print("deleted credential \(id)")
        }
    }

    struct Discover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the VMs of a vCenter.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int
        @Option(help: "Name pattern (*, ?) or part of a name.") var filter: String?
        @Flag(name: .customLong("add"), help: "Also add (or update) every listed VM.") var add = false

        func run() async throws {
            let request = DiscoverRequest(credentialId: Int64(id), filter: filter, createContext: add)
            let answer = try await APIClient.make(options).send(.POST, "/discovery/discover-vms", body: request, as: DiscoverResponse.self)
            if options.json { return try answer.printJSON() }
            let result = answer.value
            var table = Table(headers: ["NAME", "POWER", "CPU", "MEMORY", "DISKS", "SIZE", "OS", "CBT", "ADDED"])
            for vm in result.discoveredVms {
                table.rows.append([
                    vm.name, cell(vm.powerState), cell(vm.cpuCount), vm.memoryMb.map { "\($0) MB" } ?? "-", cell(vm.disks.count),
                    humanBytes(vm.totalCapacityBytes), cell(vm.osType), vm.cbtEnabled ? "on" : "off", vm.contextId != nil ? "yes" : "no",
                ])
            }
            print(table.render())
            print("\(result.count) VMs in \(result.durationMs) ms")
        }
    }

    struct AddVMs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-vms", abstract: "Add VMs of a vCenter so they can be backed up.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int
        @Argument(help: "VM names.") var names: [String]

        func run() async throws {
            let answer = try await APIClient.make(options).send(.POST, "/discovery/add-vms", body: AddVMsRequest(credentialId: Int64(id), vmNames: names),
                                                                as: AddVMsResponse.self)
            if options.json { return try answer.printJSON() }
            print("added \(answer.value.count) VM(s)")
        }
    }
}
