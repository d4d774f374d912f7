import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// One element of a SOAP answer: local name, its `xsi:type` (prefix
/// removed), the plain `type` attribute of a managed object reference, text,
/// children. vim25 answers are small trees (a 1,000-VM
/// inventory is a few MB), so a tree is simpler than a streaming decoder and
/// fast enough: parsing is measured in the discovery benchmark.
public struct SOAPElement: Sendable, Equatable {
    public var name: String
    public var type: String?
    /// `VirtualMachine` in `<obj type="VirtualMachine">vm-1</obj>`.
    public var objectType: String?
    public var text: String
    public var children: [SOAPElement]

    public init(name: String, type: String? = nil, objectType: String? = nil, text: String = "", children: [SOAPElement] = []) {
        self.name = name
        self.type = type
        self.objectType = objectType
        self.text = text
        self.children = children
    }

    public subscript(_ name: String) -> SOAPElement? { children.first { $0.name == name } }

    public func all(_ name: String) -> [SOAPElement] { children.filter { $0.name == name } }

    /// The element at a path of child names ("info.state" style, split by the caller).
    public func at(_ path: [String]) -> SOAPElement? {
        var node = self
        for name in path {
            guard let child = node[name] else { return nil }
            node = child
        }
        return node
    }

    public func text(_ name: String) -> String? { self[name]?.text }
    public func int(_ name: String) -> Int? { self[name].flatMap { Int($0.text) } }
    public func int64(_ name: String) -> Int64? { self[name].flatMap { Int64($0.text) } }
    public func bool(_ name: String) -> Bool? { self[name].map { $0.text == "true" || $0.text == "1" } }

    /// A managed object reference held in this element (`<x type="VirtualMachine">vm-1</x>`).
    public var reference: ManagedObjectReference? {
        guard let objectType, !text.isEmpty else { return nil }
        return ManagedObjectReference(type: objectType, value: text)
    }

    /// Parses a whole document; namespaces are resolved, so `xsi:type` is
    /// found whatever prefix the server chose for the XMLSchema-instance namespace.
    public static func parse(_ data: Data) throws -> SOAPElement {
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.shouldReportNamespacePrefixes = true
        parser.delegate = builder
        guard parser.parse(), let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "empty document"
            throw VSphereError.badResponse("the answer is not XML (line \(parser.lineNumber)): \(reason)")
        }
        return root
    }
}

/// A vim25 managed object reference: type and id (`VirtualMachine`, `vm-42`).
public struct ManagedObjectReference: Sendable, Hashable, Codable, CustomStringConvertible {
    public var type: String
    public var value: String
    public init(type: String, value: String) {
        self.type = type
        self.value = value
    }
    public var description: String { "\(type):\(value)" }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    static let instanceNamespace = "http://www.w3.org/2001/XMLSchema-instance"
    var stack: [SOAPElement] = []
    var root: SOAPElement?
    /// Prefixes bound to the XMLSchema-instance namespace, with their nesting depth.
    var instancePrefixes: [String: Int] = [:]
    var pending: [String: String] = [:]

    func parser(_ parser: XMLParser, didStartMappingPrefix prefix: String, toURI namespaceURI: String) {
        pending[prefix] = namespaceURI
    }

    func parser(_ parser: XMLParser, didEndMappingPrefix prefix: String) {
        instancePrefixes[prefix] = nil
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        for (prefix, uri) in pending where uri == Self.instanceNamespace { instancePrefixes[prefix] = stack.count }
        pending.removeAll(keepingCapacity: true)
        var type: String?
        var objectType: String?
        for (key, value) in attributes {
            if key == "type" {
                objectType = value
                continue
            }
            guard let colon = key.lastIndex(of: ":"), key[key.index(after: colon)...] == "type" else { continue }
            let prefix = String(key[..<colon])
            // Some XML stacks hand the namespace URI or its last path part instead of the prefix.
            if instancePrefixes[prefix] != nil || prefix == Self.instanceNamespace || prefix == "XMLSchema-instance" {
                type = value.split(separator: ":").last.map(String.init)
            }
        }
        stack.append(SOAPElement(name: elementName, type: type, objectType: objectType))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        guard !stack.isEmpty else { return }
        stack[stack.count - 1].text += string
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        guard var element = stack.popLast() else { return }
        if !element.children.isEmpty { element.text = "" }
        if stack.isEmpty {
            root = element
        } else {
            stack[stack.count - 1].children.append(element)
        }
    }
}
