import SendenseCore

/// Display paths of a restore session: absolute, `/`-separated, UTF-8 names
/// as the filesystem stores them. Only names are ever looked up, one at a time,
/// inside the image, so a path cannot leave it; still, anything that looks like
/// an escape is refused outright rather than normalised into something else.
public enum RestorePath {
    public static let maxLength = 4096

    /// The names along `path`; `/` (or empty) is the root.
    public static func components(_ path: String) throws -> [String] {
        guard path.utf8.count <= maxLength else { throw FileRestoreError.invalidPath("longer than \(maxLength) bytes") }
        guard !path.utf8.contains(0) else { throw FileRestoreError.invalidPath("contains a NUL byte") }
        if path.isEmpty || path == "/" { return [] }
        guard path.isAbsolutePath else { throw FileRestoreError.invalidPath("'\(path)' must start with /") }
        var names: [String] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            guard part != "..", part != "." else {
                throw FileRestoreError.invalidPath("'.' and '..' are not allowed in '\(path)'")
            }
            names.append(String(part))
        }
        return names
    }

    public static func join(_ components: [String]) -> String {
        "/" + components.joined(separator: "/")
    }
}
