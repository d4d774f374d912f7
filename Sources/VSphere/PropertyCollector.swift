/// An object and the properties asked for (missing ones are absent).
public struct ObjectContent: Sendable {
    public var object: ManagedObjectReference
    public var properties: [String: SOAPElement]
}

/// Which properties of which type to read.
public struct PropertySpec: Sendable {
    public var type: String
    public var paths: [String]
    public init(type: String, paths: [String]) {
        self.type = type
        self.paths = paths
    }

    var xml: String {
        "<propSet>" + SOAP.element("type", type) + paths.map { SOAP.element("pathSet", $0) }.joined() + "</propSet>"
    }
}

extension VSphereClient {
    /// Reads `specs` of every object a ContainerView of `types` under the
    /// root folder holds: one view, one paged retrieval (RetrievePropertiesEx,
    /// then ContinueRetrievePropertiesEx while vCenter hands a token).
    public func inventory(types: [String], _ specs: [PropertySpec], pageSize: Int = 1000) async throws -> [ObjectContent] {
        let content = try await serviceContent()
        let created = try await invoke("CreateContainerView", on: content.viewManager,
            SOAP.reference("container", content.rootFolder) + types.map { SOAP.element("type", $0) }.joined()
                + SOAP.element("recursive", "true"))
        guard let view = created["returnval"]?.reference else { throw VSphereError.badResponse("CreateContainerView returned no view") }
        do {
            let objectSet = "<objectSet>" + SOAP.reference("obj", view) + "<skip>true</skip>"
                + "<selectSet xsi:type=\"TraversalSpec\"><name>view</name><type>ContainerView</type><path>view</path><skip>false</skip></selectSet>"
                + "</objectSet>"
            let objects = try await retrieve(specs, objectSet: objectSet, pageSize: pageSize)
            _ = try? await invoke("DestroyView", on: view)
            return objects
        } catch {
            _ = try? await invoke("DestroyView", on: view)
            throw error
        }
    }

    /// Reads `paths` of one object.
    public func properties(of object: ManagedObjectReference, _ paths: [String]) async throws -> [String: SOAPElement] {
        let objectSet = "<objectSet>" + SOAP.reference("obj", object) + "<skip>false</skip></objectSet>"
        guard let found = try await retrieve([PropertySpec(type: object.type, paths: paths)], objectSet: objectSet).first else {
            throw VSphereError.fault(SOAPFault(type: "ManagedObjectNotFound", message: "\(object) does not exist"))
        }
        return found.properties
    }

    func retrieve(_ specs: [PropertySpec], objectSet: String, pageSize: Int = 1000) async throws -> [ObjectContent] {
        let collector = try await serviceContent().propertyCollector
        let spec = "<specSet>" + specs.map(\.xml).joined() + objectSet + "</specSet>"
        var answer = try await invoke("RetrievePropertiesEx", on: collector,
                                      spec + "<options>" + SOAP.element("maxObjects", String(pageSize)) + "</options>")
        var objects: [ObjectContent] = []
        while true {
            guard let result = answer["returnval"] else { break }
            objects += result.all("objects").compactMap(Self.objectContent)
            guard let token = result.text("token"), !token.isEmpty else { break }
            answer = try await invoke("ContinueRetrievePropertiesEx", on: collector, SOAP.element("token", token))
        }
        return objects
    }

    static func objectContent(_ element: SOAPElement) -> ObjectContent? {
        guard let object = element["obj"]?.reference else { return nil }
        var properties: [String: SOAPElement] = [:]
        for property in element.all("propSet") {
            if let name = property.text("name"), let value = property["val"] { properties[name] = value }
        }
        return ObjectContent(object: object, properties: properties)
    }
}
