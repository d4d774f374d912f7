// vcsim for the Sendense tests: govmomi's vCenter simulator (simulator.VPX)
// with what version 0.24 lacks and Sendense needs:
//
//   - Changed Block Tracking over the real disk files: when a VM with
//     changeTrackingEnabled takes a snapshot, each disk's file is summarised
//     block by block under a new changeId, which the snapshot's config shows;
//     QueryChangedDiskAreas compares the file with the summary of the changeId
//     it is given ("*": every non-zero block), paged like vCenter.
//   - Disk files of a given size (-disk-mb): each disk's data lives in its
//     flat extent (disk1-flat.vmdk next to disk1.vmdk, as on ESXi), which the
//     datastore HTTP interface (/folder/…, honouring Range) serves; /folder
//     requires the session cookie as vCenter does.
//   - Import lease uploads (/nfc/…) are kept in <datastore>/_nfc_uploads/
//     (vcsim discards them) and need the session cookie.
//   - Test hooks: POST /_sendense/fail?method=CreateSnapshot_Task&count=N makes
//     the next N calls of that task method start tasks that fail.
//
// It prints one JSON line (url, thumbprints, datastore dir) once it serves,
// and exits when stdin closes.
package main

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"encoding/xml"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

const blockSize = 64 * 1024

type summary struct {
	size   int64
	blocks [][32]byte
}

type tracker struct {
	mu        sync.Mutex
	states    map[string]summary // changeId -> summary of the disk file when it was issued
	next      int
	pageAreas int
	failNext  map[string]int
}

var thisPattern = regexp.MustCompile(`<_this[^>]*>([^<]+)</_this>`)

func main() {
	vms := flag.Int("vms", 4, "number of VMs")
	diskMB := flag.Int("disk-mb", 0, "size of each VM's disk in MiB (0: vcsim's own 1 MiB, no file content)")
	pageAreas := flag.Int("cbt-page-areas", 64, "changed areas per QueryChangedDiskAreas answer")
	idle := flag.Duration("session-idle", 0, "idle time after which a session expires (0: never)")
	flag.Parse()
	log.SetOutput(io.Discard) // vcsim logs every fault; the tests read the SOAP answers

	model := simulator.VPX()
	model.Host, model.Cluster, model.Machine = 1, 0, *vms
	if *vms%2 == 0 {
		model.Cluster, model.Machine = 1, *vms/2
	}
	if *idle > 0 {
		simulator.SessionIdleTimeout = *idle
	}
	if err := model.Create(); err != nil {
		fatal(err)
	}
	defer model.Remove()
	model.Service.TLS = new(tls.Config)
	if *diskMB > 0 {
		sizeDisks(int64(*diskMB) << 20)
	}

	// A fixed account: without one vcsim accepts any user name and password.
	model.Service.Listen = &url.URL{User: url.UserPassword("administrator@vsphere.local", "Sendense-vcsim-1")}
	server := model.Service.NewServer()
	defer server.Close()
	t := &tracker{states: map[string]summary{}, pageAreas: *pageAreas, failNext: map[string]int{}}
	inner := server.Config.Handler
	server.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { t.serve(w, r, inner) })

	cert := server.Certificate()
	ds := simulator.Map.Any("Datastore").(*simulator.Datastore)
	ready, _ := json.Marshal(map[string]interface{}{
		"url":               "https://" + server.URL.Host,
		"host":              server.URL.Hostname(),
		"port":              server.URL.Port(),
		"username":          server.URL.User.Username(),
		"password":          func() string { p, _ := server.URL.User.Password(); return p }(),
		"sha1_thumbprint":   thumbprint(sha1Sum(cert.Raw)),
		"sha256_thumbprint": thumbprint(sha256Sum(cert.Raw)),
		"datastore_dir":     ds.Info.GetDatastoreInfo().Url,
		"datastore":         ds.Name,
	})
	fmt.Println(string(ready))
	_, _ = io.Copy(io.Discard, os.Stdin)
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "vcsim:", err)
	os.Exit(1)
}

func sha1Sum(b []byte) []byte   { s := sha1.Sum(b); return s[:] }
func sha256Sum(b []byte) []byte { s := sha256.Sum256(b); return s[:] }

func thumbprint(sum []byte) string {
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}

// sizeDisks gives every VM disk the capacity and a sparse file of that size.
func sizeDisks(bytes int64) {
	for _, obj := range simulator.Map.All("VirtualMachine") {
		vm := obj.(*simulator.VirtualMachine)
		for _, device := range vm.Config.Hardware.Device {
			disk, ok := device.(*types.VirtualDisk)
			if !ok {
				continue
			}
			disk.CapacityInKB = bytes / 1024
			disk.CapacityInBytes = bytes
			if file := diskFile(disk); file != "" {
				_ = os.MkdirAll(path.Dir(file), 0o700)
				if f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o600); err == nil {
					_ = f.Truncate(bytes)
					_ = f.Close()
				}
			}
		}
	}
}

// diskFile maps "[LocalDS_0] DC0_H0_VM0/disk1.vmdk" to its flat extent in the
// datastore's directory, DC0_H0_VM0/disk1-flat.vmdk, where ESXi keeps a flat disk's data.
func diskFile(disk *types.VirtualDisk) string {
	backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
	if !ok {
		return ""
	}
	var dsPath object.DatastorePath
	if !dsPath.FromString(backing.FileName) {
		return ""
	}
	for _, obj := range simulator.Map.All("Datastore") {
		ds := obj.(*simulator.Datastore)
		if ds.Name == dsPath.Datastore {
			return path.Join(ds.Info.GetDatastoreInfo().Url, strings.TrimSuffix(dsPath.Path, ".vmdk")+"-flat.vmdk")
		}
	}
	return ""
}

func (t *tracker) serve(w http.ResponseWriter, r *http.Request, inner http.Handler) {
	switch {
	case r.URL.Path == "/_sendense/fail" && r.Method == http.MethodPost:
		t.mu.Lock()
		count, err := strconv.Atoi(r.URL.Query().Get("count"))
		if err != nil || count < 1 {
			count = 1
		}
		t.failNext[r.URL.Query().Get("method")] = count
		t.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
		return
	case strings.HasPrefix(r.URL.Path, "/nfc/") && (r.Method == http.MethodPost || r.Method == http.MethodPut):
		// vcsim 0.24 reads an import lease's uploads and throws them away: keep
		// each in <datastore>/_nfc_uploads/<disk file name> for the tests to judge.
		if _, err := r.Cookie("vmware_soap_session"); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		dir := path.Join(simulator.Map.Any("Datastore").(*simulator.Datastore).Info.GetDatastoreInfo().Url, "_nfc_uploads")
		_ = os.MkdirAll(dir, 0o700)
		kept, err := os.Create(path.Join(dir, path.Base(r.URL.Path)))
		if err != nil {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		defer kept.Close()
		r.Body = io.NopCloser(io.TeeReader(r.Body, kept))
	case strings.HasPrefix(r.URL.Path, "/folder/") && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if _, err := r.Cookie("vmware_soap_session"); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
	case r.URL.Path == "/sdk" && r.Method == http.MethodPost:
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		text := string(body)
		switch {
		case strings.Contains(text, "<QueryChangedDiskAreas"):
			t.queryChangedDiskAreas(w, body)
			return
		case strings.Contains(text, "<CreateSnapshot_Task"):
			if t.takeFailure("CreateSnapshot_Task") {
				t.failingTask(w, "CreateSnapshot_Task", text)
				return
			}
			t.issueChangeIDs(text)
		case strings.Contains(text, "<RemoveSnapshot_Task") && t.takeFailure("RemoveSnapshot_Task"):
			t.failingTask(w, "RemoveSnapshot_Task", text)
			return
		case strings.Contains(text, "<ReconfigVM_Task") && t.takeFailure("ReconfigVM_Task"):
			t.failingTask(w, "ReconfigVM_Task", text)
			return
		case strings.Contains(text, "<PowerOnVM_Task") && t.takeFailure("PowerOnVM_Task"):
			t.failingTask(w, "PowerOnVM_Task", text)
			return
		}
	}
	inner.ServeHTTP(w, r)
}

func (t *tracker) takeFailure(method string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failNext[method] == 0 {
		return false
	}
	t.failNext[method]--
	return true
}

func managedObject(text, kind string) (mo.Reference, types.ManagedObjectReference) {
	match := thisPattern.FindStringSubmatch(text)
	if match == nil {
		return nil, types.ManagedObjectReference{}
	}
	ref := types.ManagedObjectReference{Type: kind, Value: match[1]}
	return simulator.Map.Get(ref), ref
}

// failingTask answers a task method with a task that ends in an error.
func (t *tracker) failingTask(w http.ResponseWriter, method, text string) {
	kind := "VirtualMachine"
	if method == "RemoveSnapshot_Task" {
		kind = "VirtualMachineSnapshot"
	}
	obj, _ := managedObject(text, kind)
	if obj == nil {
		obj = simulator.Map.Any("VirtualMachine")
	}
	task := simulator.CreateTask(obj, strings.TrimSuffix(method, "_Task")+"Task", func(*simulator.Task) (types.AnyType, types.BaseMethodFault) {
		return nil, &types.InvalidState{}
	})
	taskRef := task.Run()
	writeEnvelope(w, fmt.Sprintf(`<%sResponse xmlns="urn:vim25"><returnval type="Task">%s</returnval></%sResponse>`, method, taskRef.Value, method))
}

// issueChangeIDs runs before vcsim's CreateSnapshot_Task: each disk of a VM
// that tracks changes gets a new changeId naming the file as it is now. The
// snapshot copies the VM's config, so its devices show these changeIds.
func (t *tracker) issueChangeIDs(text string) {
	obj, _ := managedObject(text, "VirtualMachine")
	vm, ok := obj.(*simulator.VirtualMachine)
	if !ok {
		return
	}
	simulator.Map.WithLock(vm, func() {
		if vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
			return
		}
		for _, device := range vm.Config.Hardware.Device {
			disk, ok := device.(*types.VirtualDisk)
			if !ok {
				continue
			}
			backing, ok := disk.Backing.(*types.VirtualDiskFlatVer2BackingInfo)
			if !ok {
				continue
			}
			sum, err := summarise(diskFile(disk))
			if err != nil {
				continue
			}
			t.mu.Lock()
			t.next++
			id := fmt.Sprintf("52 3c 9f 0b 6e 11 7d 2a-8f 44 0c 5e 91 d3 7a %02x/%d", t.next%256, t.next)
			t.states[id] = sum
			t.mu.Unlock()
			backing.ChangeId = id
		}
	})
}

func summarise(file string) (summary, error) {
	f, err := os.Open(file)
	if err != nil {
		return summary{}, err
	}
	defer f.Close()
	var s summary
	buf := make([]byte, blockSize)
	for {
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			s.blocks = append(s.blocks, sha256.Sum256(buf[:n]))
			s.size += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return s, nil
		}
		if err != nil {
			return summary{}, err
		}
	}
}

type queryRequest struct {
	This        string `xml:"_this"`
	Snapshot    string `xml:"snapshot"`
	DeviceKey   int32  `xml:"deviceKey"`
	StartOffset int64  `xml:"startOffset"`
	ChangeID    string `xml:"changeId"`
}

type envelope struct {
	Body struct {
		Query queryRequest `xml:"QueryChangedDiskAreas"`
	} `xml:"Body"`
}

func (t *tracker) queryChangedDiskAreas(w http.ResponseWriter, body []byte) {
	var env envelope
	if err := xml.Unmarshal(body, &env); err != nil {
		writeFault(w, "InvalidRequest", "", "cannot parse the request")
		return
	}
	q := env.Body.Query
	vm, ok := simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachine", Value: q.This}).(*simulator.VirtualMachine)
	if !ok {
		writeFault(w, "ManagedObjectNotFound", "", "The object 'vim.VirtualMachine:"+q.This+"' has already been deleted or has not been completely created")
		return
	}
	if simulator.Map.Get(types.ManagedObjectReference{Type: "VirtualMachineSnapshot", Value: q.Snapshot}) == nil {
		writeFault(w, "ManagedObjectNotFound", "", "The object 'vim.vm.Snapshot:"+q.Snapshot+"' has already been deleted or has not been completely created")
		return
	}
	var disk *types.VirtualDisk
	for _, device := range vm.Config.Hardware.Device {
		if d, ok := device.(*types.VirtualDisk); ok && d.Key == q.DeviceKey {
			disk = d
		}
	}
	if disk == nil || vm.Config.ChangeTrackingEnabled == nil || !*vm.Config.ChangeTrackingEnabled {
		writeFault(w, "FileFault", "", "Error caused by file "+vm.Config.Files.VmPathName)
		return
	}
	capacity := disk.CapacityInBytes
	if q.StartOffset < 0 || q.StartOffset >= capacity {
		writeFault(w, "InvalidArgument", "startOffset", "A specified parameter was not correct: startOffset")
		return
	}
	current, err := summarise(diskFile(disk))
	if err != nil {
		writeFault(w, "FileFault", "", "Error caused by file "+diskFile(disk))
		return
	}
	var since *summary
	if q.ChangeID != "*" {
		t.mu.Lock()
		s, known := t.states[q.ChangeID]
		t.mu.Unlock()
		if !known {
			writeFault(w, "InvalidArgument", "changeId", "A specified parameter was not correct: changeId")
			return
		}
		since = &s
	}
	zero := sha256.Sum256(make([]byte, blockSize))
	changed := func(i int) bool {
		if since == nil {
			return current.blocks[i] != zero
		}
		return i >= len(since.blocks) || since.blocks[i] != current.blocks[i]
	}
	var areas strings.Builder
	count := 0
	end := capacity
	first := int(q.StartOffset / blockSize)
	for i := first; i < len(current.blocks); i++ {
		if !changed(i) {
			continue
		}
		j := i
		for j+1 < len(current.blocks) && changed(j+1) {
			j++
		}
		if count == t.pageAreas {
			end = int64(i) * blockSize
			break
		}
		start := int64(i) * blockSize
		if start < q.StartOffset {
			start = q.StartOffset
		}
		stop := int64(j+1) * blockSize
		if stop > capacity {
			stop = capacity
		}
		fmt.Fprintf(&areas, "<changedArea><start>%d</start><length>%d</length></changedArea>", start, stop-start)
		count++
		i = j
	}
	writeEnvelope(w, fmt.Sprintf(`<QueryChangedDiskAreasResponse xmlns="urn:vim25"><returnval><startOffset>%d</startOffset><length>%d</length>%s</returnval></QueryChangedDiskAreasResponse>`,
		q.StartOffset, end-q.StartOffset, areas.String()))
}

func writeEnvelope(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>%s</soapenv:Body></soapenv:Envelope>`, body)
}

// writeFault answers as vCenter does: a SOAP fault whose detail names the fault type.
func writeFault(w http.ResponseWriter, kind, property, message string) {
	detail := ""
	if property != "" {
		detail = "<invalidProperty>" + property + "</invalidProperty>"
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.WriteHeader(http.StatusInternalServerError)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault><faultcode>ServerFaultCode</faultcode><faultstring>%s</faultstring><detail><%sFault xmlns="urn:vim25" xsi:type="%s">%s</%sFault></detail></soapenv:Fault></soapenv:Body></soapenv:Envelope>`,
		xmlEscape(message), kind, kind, detail, kind)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}
