import ArgumentParser
import Foundation
import SendenseAPI
import SendenseCore

#if canImport(Glibc)
import Glibc
#endif

struct LoginCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "login", abstract: "Log in to a hub and keep the token in ~/.config/sendense/.")

    @Option(help: "Hub URL.")
    var url = ProcessInfo.processInfo.environment["SENDENSE_URL"] ?? "http://localhost:8082"

    @Option(help: "User name.")
    var username = "admin"

    @Flag(name: .customLong("password-stdin"), help: "Read the password from standard input (for scripts).")
    var passwordStdin = false

    func run() async throws {
        let password: String
        if passwordStdin {
            password = readLine(strippingNewline: true) ?? ""
        } else {
            // getpass turns terminal echo off while the password is typed.
            guard let typed = getpass("Password for \(username): ") else { throw CLIError("no password given") }
            password = String(cString: typed)
        }
        let client = APIClient(baseURL: url.hasSuffix("/") ? String(url.dropLast()) : url, token: nil)
        let answer = try await client.send(.POST, "/auth/login", body: LoginRequest(username: username, password: password),
                                           as: LoginResponse.self).value
        let token = answer.token
        let expires: String? = Timestamp.format(answer.expiresAt)
        try ClientConfig(url: client.baseURL, token: token, username: username, expiresAt: expires).save()
        print("logged in to \(client.baseURL) as \(username) until \(expires ?? "?")")
    }
}

struct LogoutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logout", abstract: "Revoke the saved token and forget it.")

    @OptionGroup var options: ClientOptions

    func run() async throws {
        let client = try APIClient.make(options)
        try await client.send(.POST, "/auth/logout")
        ClientConfig.remove()
        print("logged out")
    }
}
