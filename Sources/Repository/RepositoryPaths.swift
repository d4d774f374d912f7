import SystemPackage

/// Path rules for repositories: absolute, normalized, and never nested in
/// one another (a backup must belong to exactly one repository).
public enum RepositoryPaths {
    /// The lexically normalized absolute form of `path` (`.` and `..`
    /// resolved, trailing slash dropped), or an error saying why it is not
    /// acceptable.
    public static func normalize(_ path: String) throws(RepositoryError) -> String {
        if path.isEmpty { throw .invalidPath("path must not be empty") }
        if path.utf8.contains(0) { throw .invalidPath("path must not contain NUL bytes") }
        let filePath = FilePath(path)
        guard filePath.isAbsolute else { throw .invalidPath("path must be absolute: \(path)") }
        let normalized = filePath.lexicallyNormalized()
        if normalized.components.isEmpty { throw .invalidPath("the filesystem root cannot be a repository") }
        return normalized.string
    }

    /// True when one of the two paths is the other or lies inside it.
    public static func overlap(_ a: String, _ b: String) -> Bool {
        let pa = FilePath(a).lexicallyNormalized(), pb = FilePath(b).lexicallyNormalized()
        return pa.starts(with: pb) || pb.starts(with: pa)
    }

    /// Throws when `path` overlaps any of `existing`.
    public static func checkNoOverlap(_ path: String, existing: [String]) throws(RepositoryError) {
        if let other = existing.first(where: { overlap(path, $0) }) {
            throw .overlapsRepository(path: path, other: other)
        }
    }
}
