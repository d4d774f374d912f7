#!/usr/bin/env python3
"""Builds the LVM2 file-restore fixtures: two disks of one restore point whose
volume group spans both, with LVM2's own tools writing the metadata.

    sudo python3 Tests/Fixtures/make_lvm_fixtures.py [OUT_DIR]

Needs root, loop devices, lvm2, xfsprogs, e2fsprogs, fdisk and qemu-utils. It
is run by hand when the fixtures change (the tests read the committed result,
so CI needs no loop device): lvm-disk0.qcow2, lvm-disk1.qcow2 and
lvm-files.json (every file of every logical volume with its SHA-256).

  disk 0: GPT, partition 1 ext4 "boot" (8 MiB), partition 2 an LVM2 PV
  disk 1: a whole-disk LVM2 PV
  volume group "vgdata" on both PVs:
    root    320 MiB XFS "rootfs"   linear, on disk 0 (XFS needs 300 MiB at least)
    home     24 MiB ext4 "home"    linear, 16 MiB on disk 0 then 8 MiB on disk 1
    stripes  16 MiB ext4 "stripes" striped over both disks, 64 KiB stripes
LVM writes no data (no device mapper here: --driverloaded n); the filesystems
are made as files and copied to the physical extents `lvs --segments` reports.
"""
import hashlib, json, os, random, shutil, subprocess, sys, tempfile

MiB = 1 << 20
OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
CONFIG = ('devices{filter=["a|^/dev/loop|","r|.*|"] obtain_device_list_from_udev=0 use_devicesfile=0} '
          'activation{udev_sync=0 udev_rules=0 monitoring=0}')
os.environ["LVM_SUPPRESS_FD_WARNINGS"] = "1"


def run(*args, **kwargs):
    return subprocess.run(args, check=True, capture_output=True, text=True, **kwargs).stdout


def lvm(*args):
    return run(args[0], "--config", CONFIG, *args[1:])


def tree(root, seed, names):
    """A small tree of seeded random files, with non-ASCII names."""
    rng = random.Random(seed)
    for name, size in names:
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(bytes(rng.getrandbits(8) for _ in range(size)))
    for dirpath, _, files in os.walk(root):
        for name in files:
            os.utime(os.path.join(dirpath, name), (1748779200, 1748779200))


def hashes(root):
    out = {}
    for dirpath, _, files in os.walk(root):
        for name in files:
            path = os.path.join(dirpath, name)
            out[os.path.relpath(path, root)] = hashlib.sha256(open(path, "rb").read()).hexdigest()
    return out


def xfs_proto(root):
    """mkfs.xfs's prototype file for `root` (names must hold no spaces)."""
    lines = ["/dummy", "0 0", "d--755 0 0"]

    def walk(folder, indent):
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            assert " " not in name, name
            if os.path.isdir(path):
                lines.append(f"{indent}{name} d--755 0 0")
                walk(path, indent + " ")
                lines.append(indent + "$")
            else:
                lines.append(f"{indent}{name} ---644 0 0 {path}")
    walk(root, " ")
    lines.append("$")
    return "\n".join(lines) + "\n"


def main():
    work = tempfile.mkdtemp(prefix="lvm-fixtures-")
    loops = []
    try:
        trees = {
            "root": [("etc/hostname", 12), ("etc/été.conf", 3000), ("var/log/messages", 200_000), ("usr/bin/tool", 150_000)],
            "home": [("alice/notes.txt", 5000), ("alice/Documents/résumé 日本.txt", 800), ("bob/photo.bin", 400_000)],
            "stripes": [("data/a.bin", 300_000), ("data/b.bin", 65_536), ("data/c.bin", 1)],
        }
        files = {}
        for index, (lv, names) in enumerate(trees.items()):
            tree(f"{work}/{lv}", 100 + index, names)
            files[lv] = hashes(f"{work}/{lv}")

        # The filesystems, as files.
        with open(f"{work}/root.proto", "w") as f:
            f.write(xfs_proto(f"{work}/root"))
        run("truncate", "-s", f"{320 * MiB}", f"{work}/root.fs")
        run("mkfs.xfs", "-q", "-f", "-L", "rootfs", "-p", f"{work}/root.proto", f"{work}/root.fs")
        for lv, size in (("home", 24), ("stripes", 16)):
            run("mkfs.ext4", "-q", "-F", "-b", "4096", "-L", lv, "-d", f"{work}/{lv}", f"{work}/{lv}.fs", f"{size}M")
        boot = f"{work}/boot"
        tree(boot, 99, [("grub/grub.cfg", 700)])
        files["boot"] = hashes(boot)
        run("mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "boot", "-d", boot, f"{work}/boot.fs", "8M")

        # Disk 0: GPT, boot at 1 MiB, the PV from 10 MiB to the end; disk 1: all PV.
        disk0, disk1 = f"{work}/disk0.raw", f"{work}/disk1.raw"
        run("truncate", "-s", f"{352 * MiB}", disk0)
        run("truncate", "-s", f"{64 * MiB}", disk1)
        run("sfdisk", "--quiet", disk0, input="label: gpt\nstart=2048, size=16384, name=boot\nstart=20480, type=E6D6D379-F507-44C2-A23C-238F2A3DF928, name=lvm\n")
        pv0_offset = 20480 * 512
        run("dd", f"if={work}/boot.fs", f"of={disk0}", "bs=1M", "seek=1", "conv=notrunc", "status=none")
        pv0 = run("losetup", "-f", "--show", "-o", str(pv0_offset), disk0).strip()
        loops.append(pv0)
        pv1 = run("losetup", "-f", "--show", disk1).strip()
        loops.append(pv1)
        lvm("pvcreate", "-q", pv0, pv1)
        lvm("vgcreate", "-q", "-s", "4M", "vgdata", pv0, pv1)
        lvm("lvcreate", "-q", "--driverloaded", "n", "-an", "-Zn", "-L", "320M", "-n", "root", "vgdata", pv0)
        free0 = int(lvm("pvs", "--noheadings", "-o", "pv_pe_count,pv_pe_alloc_count", pv0).split()[0]) - 80
        lvm("lvcreate", "-q", "--driverloaded", "n", "-an", "-Zn", "-l", str(free0 - 2), "-n", "home", "vgdata", pv0)
        lvm("lvextend", "-q", "--driverloaded", "n", "-L", "24M", "vgdata/home", pv1)
        lvm("lvcreate", "-q", "--driverloaded", "n", "-an", "-Zn", "-i", "2", "-I", "64k", "-L", "16M", "-n", "stripes", "vgdata", pv0, pv1)

        # Copy each filesystem to the extents LVM allocated for it.
        report = json.loads(lvm("lvs", "--segments", "--reportformat", "json", "--units", "b", "--nosuffix",
                                "-o", "lv_name,seg_start_pe,seg_size_pe,seg_pe_ranges,stripes,stripe_size,vg_extent_size"))
        pe_start = {dev: int(lvm("pvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "pe_start", dev).strip()) for dev in (pv0, pv1)}
        base = {pv0: (disk0, pv0_offset), pv1: (disk1, 0)}
        layout = {}
        for segment in report["report"][0]["seg"]:
            layout.setdefault(segment["lv_name"], []).append(segment)
        for lv, segments in layout.items():
            data = open(f"{work}/{lv}.fs", "rb").read()
            for segment in segments:
                extent = int(segment["vg_extent_size"])
                start = int(segment["seg_start_pe"]) * extent
                length = int(segment["seg_size_pe"]) * extent
                ranges = []
                for part in segment["seg_pe_ranges"].split():
                    dev, pe = part.rsplit(":", 1)
                    ranges.append((dev, int(pe.split("-")[0])))
                stripes, stripe_size = int(segment["stripes"]), int(segment["stripe_size"] or 0)
                for offset in range(0, length, stripe_size if stripes > 1 else length):
                    chunk = data[start + offset:start + offset + (stripe_size if stripes > 1 else length)]
                    if stripes > 1:
                        number = offset // stripe_size
                        dev, pe = ranges[number % stripes]
                        where = pe * extent + (number // stripes) * stripe_size
                    else:
                        dev, pe = ranges[0]
                        where = pe * extent
                    image, shift = base[dev]
                    with open(image, "r+b") as f:
                        f.seek(shift + pe_start[dev] + where)
                        f.write(chunk)
        for loop in loops:
            run("losetup", "-d", loop)
        loops.clear()
        for index, disk in enumerate((disk0, disk1)):
            run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", disk, f"{OUT}/lvm-disk{index}.qcow2")
        with open(f"{OUT}/lvm-files.json", "w") as f:
            json.dump(files, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        print("wrote", OUT + "/lvm-disk0.qcow2", OUT + "/lvm-disk1.qcow2", OUT + "/lvm-files.json")
    finally:
        for loop in loops:
            subprocess.run(["losetup", "-d", loop])
        shutil.rmtree(work, ignore_errors=True)


main()
