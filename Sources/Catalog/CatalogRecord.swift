import GRDB

/// Columns are snake_case, Swift properties camelCase: every record maps
/// between the two the same way.
public protocol CatalogRecord: Codable, FetchableRecord, MutablePersistableRecord {}

extension CatalogRecord {
    public static var databaseColumnDecodingStrategy: DatabaseColumnDecodingStrategy { .convertFromSnakeCase }
    public static var databaseColumnEncodingStrategy: DatabaseColumnEncodingStrategy { .convertToSnakeCase }
}
