import Catalog
import Foundation
import Logging
import Repository

/// The first start of a hub creates user `admin`. Its password comes from
/// SENDENSE_ADMIN_PASSWORD, or is generated, printed once and written to
/// `<data-dir>/admin-password` with mode 0600.
enum AdminBootstrap {
    struct Created {
        var password: String
        var generated: Bool
        var passwordFile: String?
    }

    static func ensureAdmin(catalog: CatalogDatabase, hasher: PasswordHasher, configuration: HubConfiguration) async throws -> Created? {
        guard try await catalog.userCount() == 0 else { return nil }
        let generated = configuration.initialAdminPassword == nil
        let password = configuration.initialAdminPassword ?? TokenCodec.newPassword()
        let user = UserRecord(username: "admin", passwordHash: try await hasher.hash(password), role: .admin)
        _ = try await catalog.insertUser(user)
        guard generated else { return Created(password: password, generated: false, passwordFile: nil) }
        try DurableFile.write(Data((password + "\n").utf8), to: configuration.data.adminPasswordPath, mode: .ownerReadWrite)
        return Created(password: password, generated: true, passwordFile: configuration.data.adminPasswordPath)
    }
}
