import GRDB

/// Columns are snake_case, Swift properties camelCase: every record names its
/// columns in its CodingKeys. (GRDB's snake-case conversion strategies would do
/// the same, but they split and capitalise every column name of every row
/// fetched; they were most of the time a 1,000-VM list took.)
public protocol CatalogRecord: Codable, FetchableRecord, MutablePersistableRecord {}

/// Reads a record's row column after column, in the order of `Columns` (its
/// CodingKeys): by position when the row holds just the record's columns, by
/// name when it holds others too (a join). Finding a column by name hashes the
/// name for every value, most of the catalog's share of a 1,000-VM list
/// (perf). A record read this way lists its table's columns in its
/// CodingKeys in the table's order and selects them in that order
/// (`databaseSelection`), which `SELECT *` also gives (CatalogTests checks
/// both); debug builds check every name read.
struct OrderedColumns<Columns: CaseIterable & RawRepresentable<String>> {
    private let row: Row
    private let byPosition: Bool
    private var position = 0

    init(_ row: Row) {
        self.row = row
        byPosition = row.count == Columns.allCases.count
    }

    mutating func next<Value: DatabaseValueConvertible>(_ column: Columns) throws -> Value {
        guard let index = advance(past: column) else { return try row.decode(forColumn: column.rawValue) }
        return try row.decode(atIndex: index)
    }

    /// The same for values SQLite hands over directly (numbers, strings).
    mutating func next<Value: DatabaseValueConvertible & StatementColumnConvertible>(_ column: Columns) throws -> Value {
        guard let index = advance(past: column) else { return try row.decode(forColumn: column.rawValue) }
        return try row.decode(atIndex: index)
    }

    /// The position of `column`, nil when read by name.
    private mutating func advance(past column: Columns) -> Int? {
        defer { position += 1 }
        guard byPosition else { return nil }
        assert(row.columnNames[row.index(row.startIndex, offsetBy: position)] == column.rawValue, "\(column.rawValue) read out of order")
        return position
    }
}
