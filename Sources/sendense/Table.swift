import Foundation
import SendenseCore

/// Plain text tables for the terminal: a header row, then one row per item,
/// columns padded to their widest cell.
struct Table {
    var headers: [String]
    var rows: [[String]] = []

    func render() -> String {
        let widths = headers.indices.map { column in
            ([headers[column]] + rows.map { column < $0.count ? $0[column] : "" }).map(\.count).max() ?? 0
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { index, cell in
                index == cells.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ")
        }
        return ([line(headers)] + rows.map(line)).joined(separator: "\n")
    }
}

/// A value as a table cell: JSON's, or one of the API's typed fields
/// (timestamps as the API writes them, enums as their words).
func cell(_ value: Any?) -> String {
    switch value {
    case nil, is NSNull: "-"
    case let string as String: string
    case let date as Date: Timestamp.format(date)
    case let word as any RawRepresentable<String>: word.rawValue
    case let bool as Bool: bool ? "yes" : "no"
    case let number as Int: String(number)
    case let number as Double: number == number.rounded() ? String(Int(number)) : String(number)
    case let some?: "\(some)"
    }
}

/// Bytes in binary units: 1.5 GiB.
func humanBytes(_ value: Any?) -> String {
    guard let bytes = (value as? NSNumber)?.doubleValue else { return "-" }
    return humanBytes(bytes)
}

func humanBytes(_ bytes: some BinaryInteger) -> String { humanBytes(Double(bytes)) }

func humanBytes(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var amount = bytes, unit = 0
    while amount >= 1024 && unit < units.count - 1 {
        amount /= 1024
        unit += 1
    }
    return unit == 0 ? "\(Int(amount)) B" : String(format: "%.1f %@", amount, units[unit])
}
