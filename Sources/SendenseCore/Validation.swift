/// Rules for names a user types, shared by the API and the CLI so both
/// answer the same way. Lengths count Unicode scalars, as JSON Schema's
/// minLength and maxLength do, so the OpenAPI document can state them exactly.
public enum NameRules {
    public static let maxLength = 128

    /// A display name: not blank, no control characters, at most `maxLength`.
    /// Returns the problem in words, or nil when the name is fine.
    public static func problem(with name: String, field: String) -> String? {
        let trimmed = name.trimmingWhitespace()
        if trimmed.isEmpty { return "\(field) must not be empty" }
        if name.unicodeScalars.count > maxLength { return "\(field) must be at most \(maxLength) characters" }
        if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "\(field) must not contain control characters"
        }
        return nil
    }

    /// A user name: letters, digits and `._-@`, 1 to 64 characters.
    public static func usernameProblem(_ name: String) -> String? {
        if name.isEmpty || name.unicodeScalars.count > 64 { return "username must be 1 to 64 characters" }
        let allowed = name.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains(Character($0))))
                || "._-@".unicodeScalars.contains($0)
        }
        return allowed ? nil : "username may contain only letters, digits and . _ - @"
    }

    public static let maxPasswordLength = 1024

    /// Passwords: 8 to 1024 characters (the hasher reads every byte of a long one).
    public static func passwordProblem(_ password: String) -> String? {
        let length = password.unicodeScalars.count
        if length < 8 || length > maxPasswordLength { return "password must be 8 to \(maxPasswordLength) characters" }
        return nil
    }

    /// A vCenter account's password: the hub only stores it, so any 1 to 1024 characters.
    public static func vCenterPasswordProblem(_ password: String) -> String? {
        (1...maxPasswordLength).contains(password.unicodeScalars.count) ? nil : "password must be 1 to \(maxPasswordLength) characters"
    }
}

extension String {
    /// Whether this is an absolute path, judged by its first byte as the
    /// kernel does. `hasPrefix("/")` compares Characters: a combining mark
    /// after the slash makes it false for a path the kernel reads as absolute.
    public var isAbsolutePath: Bool { utf8.first == UInt8(ascii: "/") }

    public func trimmingWhitespace() -> Substring {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return self[first...last]
    }
}
