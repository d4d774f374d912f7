#!/usr/bin/env python3
"""Builds the small bootable guest that live-backup tests run under KVM.

    make_test_guest.py OUT_DIR

writes OUT_DIR/vmlinuz (this host's Debian kernel) and OUT_DIR/initramfs.img
(gzip'd newc cpio): busybox, the QEMU guest agent with its libraries, and the
virtio and ext4 modules of that kernel. The guest boots by direct kernel boot
(or from a disk of its own: make_bootable_disk.py puts both files there);
its /init reads these words of the kernel command line:

  sendense.agent=1     run qemu-ga on the virtio-serial port org.qemu.guest_agent.0
  sendense.writer=fs   mount /dev/vda (ext4) and rewrite files in it forever
  sendense.writer=raw  write random 64 KiB blocks at random places of /dev/vda forever
  sendense.writer=none only boot

and prints "SENDENSE-GUEST-READY" on the serial console once the agent and the
writer run. Nothing is mounted or touched on the host; the output is rebuilt
only when the kernel or qemu-ga changed (the tests call this every run).
"""
import gzip
import hashlib
import os
import shutil
import stat
import subprocess
import sys

MODULES = ["virtio_pci", "virtio_blk", "virtio_console", "ext4"]

INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.order); do insmod "$m" 2>/dev/null; done
mkdir -p /run /var/run /mnt /tmp
writer=none; agent=0
for word in $(cat /proc/cmdline); do
  case "$word" in
    sendense.writer=*) writer="${word#sendense.writer=}" ;;
    sendense.agent=*) agent="${word#sendense.agent=}" ;;
  esac
done
[ "$writer" = none ] || { i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; }
if [ "$agent" = 1 ]; then
  # No udev: find the port by its name (udev would link /dev/virtio-ports/NAME).
  port=
  i=0; while [ -z "$port" ] && [ $i -lt 100 ]; do
    for p in /sys/class/virtio-ports/*; do
      [ "$(cat $p/name 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
    done
    [ -n "$port" ] || sleep 0.1; i=$((i+1))
  done
  /usr/sbin/qemu-ga --method virtio-serial --path "$port" --statedir /run --logfile /dev/ttyS0 &
fi
case "$writer" in
  fs)
    mount -t ext4 /dev/vda /mnt || echo "SENDENSE-GUEST-NO-FS"
    ( n=0; while true; do
        dd if=/dev/urandom of=/mnt/f$((n % 64)) bs=64k count=$((1 + n % 16)) conv=fsync 2>/dev/null
        n=$((n+1))
      done ) &
    ;;
  raw)
    size=$(cat /sys/block/vda/size)
    blocks=$((size / 128))
    ( while true; do
        r=$(od -An -N4 -tu4 /dev/urandom)
        dd if=/dev/urandom of=/dev/vda bs=64k count=1 seek=$((r % blocks)) oflag=direct conv=notrunc 2>/dev/null
      done ) &
    ;;
esac
echo "SENDENSE-GUEST-READY writer=$writer agent=$agent" > /dev/ttyS0
while true; do sleep 3600; done
"""


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def kernel_release():
    releases = sorted(os.listdir("/lib/modules"))
    for release in reversed(releases):
        if os.path.exists(f"/boot/vmlinuz-{release}"):
            return release
    sys.exit("no kernel in /boot with modules in /lib/modules (apt-get install linux-image-amd64)")


def module_files(release):
    """The .ko files MODULES need, dependencies first, each once."""
    order = []
    for module in MODULES:
        for line in run("modprobe", "-S", release, "--show-depends", module).splitlines():
            words = line.split()
            if words[:1] == ["insmod"] and words[1] not in order:
                order.append(words[1])
    return order


def libraries(binary):
    """The shared libraries (and the loader) `binary` loads, as ldd names them."""
    found = []
    for line in run("ldd", binary).splitlines():
        words = line.split()
        path = words[2] if "=>" in words and len(words) > 2 else words[0]
        if path.startswith("/") and path not in found:
            found.append(path)
    return found


class Cpio:
    """A newc archive written as it goes (the kernel unpacks it)."""

    def __init__(self, out):
        self.out = out
        self.inode = 1
        self.seen = set()

    def _entry(self, name, mode, data=b"", nlink=1):
        header = "070701" + "".join(f"{v:08X}" for v in (
            self.inode, mode, 0, 0, nlink, 0, len(data), 0, 0, 0, 0, len(name) + 1, 0))
        self.inode += 1
        blob = header.encode() + name.encode() + b"\0"
        blob += b"\0" * (-len(blob) % 4)
        blob += data + b"\0" * (-len(data) % 4)
        self.out.write(blob)

    def directory(self, name):
        parts = name.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            path = "/".join(parts[:depth])
            if path and path not in self.seen:
                self.seen.add(path)
                self._entry(path, stat.S_IFDIR | 0o755, nlink=2)

    def file(self, name, data, mode=0o755):
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def close(self):
        self._entry("TRAILER!!!", 0)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out_dir = sys.argv[1]
    release = kernel_release()
    busybox = shutil.which("busybox") or sys.exit("busybox missing (apt-get install busybox-static)")
    agent = "/usr/sbin/qemu-ga"
    if not os.path.exists(agent):
        sys.exit("qemu-ga missing (apt-get install qemu-guest-agent)")
    modules = module_files(release)
    inputs = [f"/boot/vmlinuz-{release}", busybox, agent, *modules, *libraries(agent)]
    stamp = hashlib.sha256((INIT + "\n".join(
        f"{p}:{os.stat(p).st_size}:{os.stat(p).st_mtime_ns}" for p in inputs)).encode()).hexdigest()
    os.makedirs(out_dir, exist_ok=True)
    stamp_path = os.path.join(out_dir, "stamp")
    if os.path.exists(stamp_path) and open(stamp_path).read() == stamp:
        return
    image = os.path.join(out_dir, "initramfs.img.tmp")
    with gzip.open(image, "wb", compresslevel=1) as out:
        cpio = Cpio(out)
        for directory in ("dev", "proc", "sys", "run", "mnt", "tmp", "bin", "usr/sbin"):
            cpio.directory(directory)
        cpio.file("init", INIT.encode())
        cpio.file("bin/busybox", open(busybox, "rb").read())
        cpio.file("usr/sbin/qemu-ga", open(agent, "rb").read())
        for library in libraries(agent):
            real = os.path.realpath(library)
            cpio.file(real, open(real, "rb").read())
            if real != library:
                cpio.symlink(library, real)
        names = []
        for module in modules:
            name = "modules/" + os.path.basename(module)
            cpio.file(name, open(module, "rb").read(), 0o644)
            names.append("/" + name)
        cpio.file("modules.order", ("\n".join(names) + "\n").encode(), 0o644)
        cpio.close()
    os.replace(image, os.path.join(out_dir, "initramfs.img"))
    shutil.copyfile(f"/boot/vmlinuz-{release}", os.path.join(out_dir, "vmlinuz"))
    with open(stamp_path, "w") as stamp_file:
        stamp_file.write(stamp)


if __name__ == "__main__":
    main()
