import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Libvirt
import Testing

/// The domain an instant recovery starts, made from the XML a live backup
/// stored (a running domain's: ids, aliases, labels, its files and sockets).
/// libvirt itself accepting it is shown by the recovery tests with a real libvirtd.
@Suite("Recovered domain XML")
struct RecoveredDomainTests {
    static let stored = """
        <domain type='kvm' id='7'>
          <name>web1</name>
          <uuid>0c7e2a4e-9a1b-4a57-8f5e-2b8c0d7a1e11</uuid>
          <memory unit='KiB'>1048576</memory>
          <vcpu placement='static'>2</vcpu>
          <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type><loader readonly='yes' type='pflash'>/usr/share/OVMF/OVMF_CODE_4M.fd</loader>
            <nvram>/var/lib/libvirt/qemu/nvram/web1_VARS.fd</nvram></os>
          <devices>
            <disk type='file' device='disk'>
              <driver name='qemu' type='qcow2' cache='none'/>
              <source file='/var/lib/libvirt/images/web1.qcow2' index='2'/>
              <backingStore/>
              <target dev='vda' bus='virtio'/>
              <boot order='1'/>
              <alias name='virtio-disk0'/>
              <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
            </disk>
            <disk type='block' device='disk'>
              <driver name='qemu' type='raw'/>
              <source dev='/dev/vg0/web1-data'/>
              <target dev='vdb' bus='virtio'/>
            </disk>
            <disk type='network' device='disk'>
              <source protocol='rbd' name='pool/scratch'/>
              <target dev='vdc' bus='virtio'/>
            </disk>
            <disk type='file' device='cdrom'>
              <source file='/srv/iso/debian.iso'/>
              <target dev='sda' bus='sata'/>
              <readonly/>
            </disk>
            <interface type='bridge'>
              <mac address='52:54:00:aa:bb:cc'/>
              <source bridge='br0'/>
              <target dev='vnet3'/>
              <model type='virtio'/>
              <alias name='net0'/>
            </interface>
            <serial type='pty'><source path='/dev/pts/4'/><target type='isa-serial' port='0'/></serial>
            <console type='pty' tty='/dev/pts/4'><source path='/dev/pts/4'/><target type='serial' port='0'/></console>
            <channel type='unix'>
              <source mode='bind' path='/var/lib/libvirt/qemu/channel/target/domain-7-web1/org.qemu.guest_agent.0'/>
              <target type='virtio' name='org.qemu.guest_agent.0' state='connected'/>
            </channel>
            <graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'/>
          </devices>
          <seclabel type='dynamic' model='dac' relabel='yes'><label>+64055:+994</label><imagelabel>+64055:+994</imagelabel></seclabel>
        </domain>
        """

    static func parse(_ xml: String) throws -> XMLElement {
        try #require(try XMLDocument(xmlString: xml, options: []).rootElement())
    }

    static func values(_ root: XMLElement, _ path: String) throws -> [String] {
        try root.nodes(forXPath: path).compactMap(\.stringValue)
    }

    static let socket = "/run/sendense/h-recoveries/r1/nbd.sock"
    static let disks = [RecoveredDomain.Disk(target: "vda", source: .nbd(socket: socket, exportName: "disk0")),
                        RecoveredDomain.Disk(target: "vdb", source: .nbd(socket: socket, exportName: "disk1"))]

    @Test("new name and identity, backed-up disks on NBD, the rest of the original's left out, NICs with new MACs")
    func recovered() throws {
        let domain = try RecoveredDomain(storedXML: Self.stored, name: "web1-recovered", disks: Self.disks,
                                         consoleLog: "/run/sendense/h-recoveries/r1/console.log", network: .asStored, description: "test")
        #expect(domain.domainType == "kvm")
        #expect(domain.leftOut == ["vdc"])
        let root = try Self.parse(domain.xml)
        #expect(root.attribute(forName: "id") == nil)
        #expect(try Self.values(root, "name") == ["web1-recovered"])
        #expect(try Self.values(root, "description") == ["test"])
        #expect(try Self.values(root, "uuid").isEmpty && Self.values(root, "seclabel").isEmpty && Self.values(root, "os/nvram").isEmpty)
        #expect(try Self.values(root, "//alias").isEmpty)
        #expect(try Self.values(root, "os/loader") == ["/usr/share/OVMF/OVMF_CODE_4M.fd"])
        // vda and vdb read the exports; their boot order and address stay; nothing names the original's files.
        #expect(try Self.values(root, "devices/disk[@device='disk']/target/@dev") == ["vda", "vdb"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/@type") == ["network", "network"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/source/@name") == ["disk0", "disk1"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/source/@protocol") == ["nbd", "nbd"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/source/host/@socket") == [Self.socket, Self.socket])
        #expect(try Self.values(root, "devices/disk[@device='disk']/driver/@type") == ["raw", "raw"])
        #expect(try Self.values(root, "devices/disk[target/@dev='vda']/boot/@order") == ["1"])
        #expect(try Self.values(root, "devices/disk[target/@dev='vda']/address/@bus") == ["0x04"])
        #expect(!domain.xml.contains("web1.qcow2") && !domain.xml.contains("/dev/vg0") && !domain.xml.contains("backingStore"))
        // The CD-ROM stays, empty.
        #expect(try Self.values(root, "devices/disk[@device='cdrom']/target/@dev") == ["sda"])
        #expect(!domain.xml.contains("debian.iso"))
        // The NIC keeps its bridge and model; libvirt gives it a new MAC and host device.
        #expect(try Self.values(root, "devices/interface/source/@bridge") == ["br0"])
        #expect(try Self.values(root, "devices/interface/model/@type") == ["virtio"])
        #expect(try Self.values(root, "devices/interface/mac").isEmpty && Self.values(root, "devices/interface/target").isEmpty)
        // The serial pty logs to the session's file; the mirrored console and the agent's socket path are libvirt's to make.
        #expect(try Self.values(root, "devices/serial/log/@file") == ["/run/sendense/h-recoveries/r1/console.log"])
        #expect(try Self.values(root, "devices/serial/source").isEmpty && Self.values(root, "devices/console").isEmpty)
        #expect(try Self.values(root, "devices/channel/source").isEmpty && Self.values(root, "devices/channel/target/@state").isEmpty)
        #expect(try Self.values(root, "devices/channel/target/@name") == ["org.qemu.guest_agent.0"])
        #expect(try Self.values(root, "devices/graphics/@port").isEmpty && Self.values(root, "devices/graphics/@autoport") == ["yes"])
    }

    @Test("network none drops every NIC; a libvirt network takes them all; a file serial moves to the session's log")
    func networks() throws {
        let isolated = try Self.parse(RecoveredDomain(storedXML: Self.stored, name: "a", disks: Self.disks, consoleLog: "/x/console.log",
                                                      network: .none, description: "").xml)
        #expect(try Self.values(isolated, "devices/interface").isEmpty)
        let onNetwork = try Self.parse(RecoveredDomain(storedXML: Self.stored, name: "a", disks: Self.disks, consoleLog: "/x/console.log",
                                                       network: .libvirt("isolated-lab"), description: "").xml)
        #expect(try Self.values(onNetwork, "devices/interface/@type") == ["network"])
        #expect(try Self.values(onNetwork, "devices/interface/source/@network") == ["isolated-lab"])
        #expect(try Self.values(onNetwork, "devices/interface/source/@bridge").isEmpty)

        let fileSerial = Self.stored.replacingOccurrences(of: "<serial type='pty'><source path='/dev/pts/4'/>",
                                                          with: "<serial type='file'><source path='/var/log/web1-console.log'/>")
        let moved = try Self.parse(RecoveredDomain(storedXML: fileSerial, name: "a", disks: Self.disks, consoleLog: "/x/console.log",
                                                   network: .asStored, description: "").xml)
        #expect(try Self.values(moved, "devices/serial/source/@path") == ["/x/console.log"])
        #expect(try Self.values(moved, "devices/serial/log").isEmpty)
    }

    @Test("after a migration the definition keeps nothing of the session's folder: its console log goes, a file port becomes a pty")
    func definitionAfterMigration() throws {
        let live = """
            <domain type='kvm' id='9'><name>web1-dr</name><devices>
              <disk type='file' device='disk'><source file='/srv/vm/web1-dr-vda.qcow2'/><target dev='vda' bus='virtio'/></disk>
              <serial type='pty'><source path='/dev/pts/2'/><log file='/run/sendense/h-recoveries/r1/console.log' append='off'/><target port='0'/></serial>
              <serial type='file'><source path='/run/sendense/h-recoveries/r1/second.log'/><target port='1'/></serial>
              <serial type='file'><source path='/var/log/keep.log'/><target port='2'/></serial>
            </devices></domain>
            """
        let root = try Self.parse(RecoveredDomain.definition(liveXML: live, leaving: "/run/sendense/h-recoveries/r1"))
        #expect(root.attribute(forName: "id") == nil)
        #expect(try Self.values(root, "devices/serial/log").isEmpty)
        #expect(try Self.values(root, "devices/serial/@type") == ["pty", "pty", "file"])
        #expect(try Self.values(root, "devices/serial/source/@path") == ["/dev/pts/2", "/var/log/keep.log"])
        #expect(try Self.values(root, "devices/disk/source/@file") == ["/srv/vm/web1-dr-vda.qcow2"])
    }

    @Test("a restored VM: disks in qcow2 files keeping their driver options, MACs kept when asked, serial ports that wrote to files become ptys")
    func restored() throws {
        let files = [RecoveredDomain.Disk(target: "vda", source: .qcow2File("/srv/vm/web1-r-vda.qcow2")),
                     RecoveredDomain.Disk(target: "vdb", source: .qcow2File("/srv/vm/web1-r-vdb.qcow2"))]
        let fileSerial = Self.stored.replacingOccurrences(of: "<serial type='pty'><source path='/dev/pts/4'/>",
                                                          with: "<serial type='file'><source path='/var/log/web1.log'/>")
        let domain = try RecoveredDomain(storedXML: fileSerial, name: "web1-r", disks: files, consoleLog: nil, network: .asStored,
                                         keepMACs: true, description: "restored")
        #expect(domain.leftOut == ["vdc"])
        let root = try Self.parse(domain.xml)
        #expect(try Self.values(root, "devices/disk[@device='disk']/@type") == ["file", "file"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/source/@file") == ["/srv/vm/web1-r-vda.qcow2", "/srv/vm/web1-r-vdb.qcow2"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/driver/@type") == ["qcow2", "qcow2"])
        #expect(try Self.values(root, "devices/disk[target/@dev='vda']/driver/@cache") == ["none"])
        #expect(try Self.values(root, "devices/disk[@device='disk']/backingStore").isEmpty && !domain.xml.contains("/dev/vg0"))
        #expect(try Self.values(root, "devices/interface/mac/@address") == ["52:54:00:aa:bb:cc"])
        #expect(try Self.values(root, "devices/interface/target").isEmpty)
        #expect(try Self.values(root, "devices/serial/@type") == ["pty"])
        #expect(try Self.values(root, "devices/serial/source").isEmpty && Self.values(root, "devices/serial/log").isEmpty)
        #expect(!domain.xml.contains("/var/log/web1.log"))
        #expect(try Self.values(root, "uuid").isEmpty && Self.values(root, "os/nvram").isEmpty)
    }

    @Test("refused: a disk with no export in the XML, a domain that is not KVM or QEMU, no domain at all")
    func refused() {
        #expect(throws: LibvirtError.self) {
            try RecoveredDomain(storedXML: Self.stored, name: "a", disks: Self.disks + [.init(target: "vdz", source: .qcow2File("/s"))],
                                consoleLog: "/c", network: .asStored, description: "")
        }
        #expect(throws: LibvirtError.self) {
            try RecoveredDomain(storedXML: Self.stored.replacingOccurrences(of: "type='kvm'", with: "type='xen'"), name: "a", disks: Self.disks,
                                consoleLog: "/c", network: .asStored, description: "")
        }
        #expect(throws: (any Error).self) {
            try RecoveredDomain(storedXML: "<network/>", name: "a", disks: Self.disks, consoleLog: "/c", network: .asStored, description: "")
        }
    }
}
