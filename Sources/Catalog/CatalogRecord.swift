import GRDB

/// Columns are snake_case, Swift properties camelCase: every record names its
/// columns in its CodingKeys. (GRDB's snake-case conversion strategies would do
/// the same, but they split and capitalise every column name of every row
/// fetched; they were most of the time a 1,000-VM list took.)
public protocol CatalogRecord: Codable, FetchableRecord, MutablePersistableRecord {}
