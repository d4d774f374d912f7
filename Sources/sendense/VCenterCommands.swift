import ArgumentParser
import Foundation

struct VCenterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vcenter", abstract: "Manage vCenter credentials and discover their VMs.",
        subcommands: [List.self, Add.self, Test.self, Delete.self, Discover.self, AddVMs.self], defaultSubcommand: List.self)

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List vCenter credentials.")
        @OptionGroup var options: ClientOptions

        func run() async throws {
            let answer = try await APIClient.make(options).call(.GET, "/vmware-credentials")
            if options.json { return try printJSON(answer) }
            var table = Table(headers: ["ID", "NAME", "HOST", "PORT", "USER", "DATACENTER", "TRUST", "TRANSPORT", "VMS"])
            for credential in (answer as? [String: Any])?["credentials"] as? [[String: Any]] ?? [] {
                let trust = credential["thumbprint"] is String ? "pinned" : credential["insecure"] as? Bool == true ? "insecure" : "CA"
                table.rows.append([
                    cell(credential["id"]), cell(credential["name"]), cell(credential["vcenter_host"]), cell(credential["vcenter_port"]),
                    cell(credential["username"]), cell(credential["datacenter"]), trust, cell(credential["transport"]), cell(credential["vm_count"]),
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
            var body: [String: Any] = ["name": name, "vcenter_host": host, "vcenter_port": port, "username": username,
                                       "password": password, "insecure": insecure, "transport": transport]
            if let datacenter { body["datacenter"] = datacenter }
            if let thumbprint { body["thumbprint"] = thumbprint }
            let answer = try await APIClient.make(options).call(.POST, "/vmware-credentials", body: body)
            if options.json { return try printJSON(answer) }
            print("added vCenter \(name) as credential \(cell((answer as? [String: Any])?["id"]))")
        }
    }

    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Log in to a vCenter and count its VMs.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int

        func run() async throws {
            let answer = try await APIClient.make(options).call(.POST, "/vmware-credentials/\(id)/test")
            if options.json { return try printJSON(answer) }
            let result = answer as? [String: Any] ?? [:]
            guard result["success"] as? Bool == true else { throw CLIError(cell(result["message"])) }
            print("\(cell(result["message"])): \(cell(result["vm_count"])) VMs")
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete a vCenter credential.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int

        func run() async throws {
            _ = try await APIClient.make(options).call(.DELETE, "/vmware-credentials/\(id)")
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
            var body: [String: Any] = ["credential_id": id, "create_context": add]
            if let filter { body["filter"] = filter }
            let answer = try await APIClient.make(options).call(.POST, "/discovery/discover-vms", body: body)
            if options.json { return try printJSON(answer) }
            let result = answer as? [String: Any] ?? [:]
            var table = Table(headers: ["NAME", "POWER", "CPU", "MEMORY", "DISKS", "SIZE", "OS", "CBT", "ADDED"])
            for vm in result["discovered_vms"] as? [[String: Any]] ?? [] {
                table.rows.append([
                    cell(vm["name"]), cell(vm["power_state"]), cell(vm["cpu_count"]), (vm["memory_mb"] as? Int).map { "\($0) MB" } ?? "-",
                    cell((vm["disks"] as? [Any])?.count), humanBytes(vm["total_capacity_bytes"]), cell(vm["os_type"]),
                    vm["cbt_enabled"] as? Bool == true ? "on" : "off", vm["context_id"] is String ? "yes" : "no",
                ])
            }
            print(table.render())
            print("\(cell(result["count"])) VMs in \(cell(result["duration_ms"])) ms")
        }
    }

    struct AddVMs: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "add-vms", abstract: "Add VMs of a vCenter so they can be backed up.")
        @OptionGroup var options: ClientOptions
        @Argument(help: "Credential id.") var id: Int
        @Argument(help: "VM names.") var names: [String]

        func run() async throws {
            let answer = try await APIClient.make(options).call(.POST, "/discovery/add-vms", body: ["credential_id": id, "vm_names": names])
            if options.json { return try printJSON(answer) }
            print("added \(cell((answer as? [String: Any])?["count"])) VM(s)")
        }
    }
}
