import Foundation
import Testing
@testable import VSphere

/// Answers as real vCenters write them (namespace prefixes, xsi:type on
/// values, faults with detail), parsed without a server.
@Suite struct SOAPParsingTests {
    static let envelopeStart = """
        <?xml version="1.0" encoding="UTF-8"?>
        <soapenv:Envelope xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/"
         xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"
         xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
        <soapenv:Body>
        """
    static let envelopeEnd = "</soapenv:Body></soapenv:Envelope>"

    func body(_ xml: String) throws -> SOAPElement {
        let document = try SOAPElement.parse(Data((Self.envelopeStart + xml + Self.envelopeEnd).utf8))
        return try #require(document["Body"]?.children.first)
    }

    @Test func diskChangeInfo() throws {
        let answer = try body("""
            <QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval>
            <startOffset>0</startOffset><length>107374182400</length>
            <changedArea><start>0</start><length>1048576</length></changedArea>
            <changedArea><start>8388608</start><length>65536</length></changedArea>
            </returnval></QueryChangedDiskAreasResponse>
            """)
        let value = try #require(answer["returnval"])
        let info = try DiskChangeInfo.parse(value)
        #expect(info.startOffset == 0 && info.length == 107_374_182_400)
        #expect(info.areas == [ChangedArea(start: 0, length: 1_048_576), ChangedArea(start: 8_388_608, length: 65536)])
    }

    @Test func diskChangeInfoWithoutLengthIsRefused() throws {
        let answer = try body("<QueryChangedDiskAreasResponse xmlns=\"urn:vim25\"><returnval><startOffset>0</startOffset></returnval></QueryChangedDiskAreasResponse>")
        let value = try #require(answer["returnval"])
        #expect(throws: VSphereError.self) { try DiskChangeInfo.parse(value) }
    }

    @Test func invalidArgumentFault() throws {
        let fault = try body("""
            <soapenv:Fault><faultcode>ServerFaultCode</faultcode>
            <faultstring>A specified parameter was not correct: changeId</faultstring>
            <detail><InvalidArgumentFault xmlns="urn:vim25" xsi:type="InvalidArgument">
            <invalidProperty>changeId</invalidProperty></InvalidArgumentFault></detail></soapenv:Fault>
            """)
        let parsed = SOAPFault.parse(fault)
        #expect(parsed == SOAPFault(type: "InvalidArgument", message: "A specified parameter was not correct: changeId", invalidProperty: "changeId"))
    }

    /// vcsim (govmomi) binds the instance namespace to its own prefix.
    @Test func faultTypeUnderAnotherPrefix() throws {
        let fault = try body("""
            <soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>Cannot complete login due to an incorrect user name or password.</faultstring>
            <detail><InvalidLoginFault xmlns:XMLSchema-instance="http://www.w3.org/2001/XMLSchema-instance" XMLSchema-instance:type="InvalidLogin"></InvalidLoginFault></detail></soapenv:Fault>
            """)
        #expect(SOAPFault.parse(fault).type == "InvalidLogin")
        #expect(VSphereError.fault(SOAPFault.parse(fault)).isInvalidLogin)
    }

    @Test func pagedRetrieveResult() throws {
        let answer = try body("""
            <RetrievePropertiesExResponse xmlns="urn:vim25"><returnval><token>1</token>
            <objects><obj type="VirtualMachine">vm-42</obj>
              <propSet><name>name</name><val xsi:type="xsd:string">pg &amp; web</val></propSet>
              <propSet><name>runtime.host</name><val type="HostSystem" xsi:type="ManagedObjectReference">host-9</val></propSet>
              <propSet><name>config.hardware.device</name><val xsi:type="ArrayOfVirtualDevice">
                <VirtualDevice xsi:type="VirtualIDEController"><key>200</key></VirtualDevice>
                <VirtualDevice xsi:type="VirtualDisk"><key>2000</key><deviceInfo><label>Hard disk 1</label><summary>x</summary></deviceInfo>
                  <backing xsi:type="VirtualDiskFlatVer2BackingInfo"><fileName>[datastore1] pg/pg.vmdk</fileName>
                  <datastore type="Datastore">datastore-11</datastore><diskMode>persistent</diskMode>
                  <thinProvisioned>true</thinProvisioned><changeId>52 1d 0e 3a-8b/4</changeId></backing>
                  <capacityInKB>10485760</capacityInKB><capacityInBytes>10737418240</capacityInBytes></VirtualDevice>
              </val></propSet>
            </objects></returnval></RetrievePropertiesExResponse>
            """)
        let result = try #require(answer["returnval"])
        #expect(result.text("token") == "1")
        let objects = try #require(result["objects"])
        let object = try #require(VSphereClient.objectContent(objects))
        #expect(object.object == ManagedObjectReference(type: "VirtualMachine", value: "vm-42"))
        #expect(object.properties["name"]?.text == "pg & web")
        #expect(object.properties["runtime.host"]?.reference == ManagedObjectReference(type: "HostSystem", value: "host-9"))
        let disks = VirtualDiskInfo.disks(in: object.properties["config.hardware.device"])
        #expect(disks == [VirtualDiskInfo(key: 2000, label: "Hard disk 1", capacityBytes: 10_737_418_240,
                                          fileName: "[datastore1] pg/pg.vmdk", thinProvisioned: true,
                                          changeId: "52 1d 0e 3a-8b/4", hasParent: false)])
        #expect(disks[0].datastoreName == "datastore1" && disks[0].flatExtentPath == "pg/pg-flat.vmdk")
    }

    @Test func notXML() {
        #expect(throws: VSphereError.self) { try SOAPElement.parse(Data("<html><body>502 Bad Gateway".utf8)) }
    }

    @Test func guestFamilies() {
        func os(_ id: String) -> String? {
            VirtualMachineInfo(moref: "vm-1", name: "a", guestId: id, changeTrackingEnabled: false, isTemplate: false, disks: []).osType
        }
        #expect(os("windows2019srv_64Guest") == "windows")
        #expect(os("rhel8_64Guest") == "linux")
        #expect(os("ubuntu64Guest") == "linux")
        #expect(os("freebsd12_64Guest") == "other")
    }

    @Test func thumbprints() {
        #expect(CertificateTrust.normalized(thumbprint: "ab:cd:" + String(repeating: "0", count: 36)) == "ABCD" + String(repeating: "0", count: 36))
        #expect(CertificateTrust.normalized(thumbprint: "xyz") == nil)
    }
}
