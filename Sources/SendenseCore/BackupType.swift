/// Whether a backup (or one disk of it) holds the whole disk or only what
/// changed since its parent.
public enum BackupType: String, Codable, Sendable, CaseIterable {
    case full
    case incremental
}
