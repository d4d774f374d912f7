#!/usr/bin/env python3
"""Makes a disk image that boots the test guest by itself, as a real VM's disk does.

    make_bootable_disk.py OUT.qcow2 VMLINUZ INITRD "KERNEL COMMAND LINE"

The disk (128 MiB) has an MBR partition table whose boot code is syslinux's
mbr.bin, and one active FAT partition from 1 MiB holding SYSLINUX (installed
with mtools, so nothing is mounted), the kernel, the initramfs and a
syslinux.cfg that boots them with the given command line. SeaBIOS boots it
like any disk: no <kernel> in the domain XML.
"""
import os
import subprocess
import sys
import tempfile

DISK_MIB = 128
PARTITION_START_MIB = 1
MBR_CODE = "/usr/lib/syslinux/mbr/mbr.bin"


def run(*args, **kwargs):
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, **kwargs)


def main():
    out, kernel, initrd, cmdline = sys.argv[1:5]
    with tempfile.TemporaryDirectory(prefix="sendense-bootable-") as work:
        partition = os.path.join(work, "boot.fat")
        size = (DISK_MIB - PARTITION_START_MIB) << 20
        with open(partition, "wb") as image:
            image.truncate(size)
        run("mkfs.fat", "-n", "SENDENSE", partition)
        config = os.path.join(work, "syslinux.cfg")
        with open(config, "w") as text:
            text.write(f"DEFAULT guest\nPROMPT 0\nTIMEOUT 0\nLABEL guest\n  KERNEL vmlinuz\n  INITRD initrd.img\n  APPEND {cmdline}\n")
        run("syslinux", "--install", partition)
        for source, name in ((kernel, "vmlinuz"), (initrd, "initrd.img"), (config, "syslinux.cfg")):
            run("mcopy", "-o", "-i", partition, source, "::" + name)

        disk = os.path.join(work, "disk.raw")
        with open(disk, "wb") as image:
            image.truncate(DISK_MIB << 20)
        # One active FAT16/32 (LBA) partition from 1 MiB to the end.
        run("sfdisk", "--quiet", disk, input=f"label: dos\nstart={PARTITION_START_MIB * 2048}, type=c, bootable\n".encode())
        with open(MBR_CODE, "rb") as code, open(disk, "r+b") as image:
            image.write(code.read()[:440])
            image.seek(PARTITION_START_MIB << 20)
            with open(partition, "rb") as fat:
                while chunk := fat.read(4 << 20):
                    image.write(chunk)
        run("qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", disk, out)


if __name__ == "__main__":
    main()
