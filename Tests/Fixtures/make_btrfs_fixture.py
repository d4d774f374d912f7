#!/usr/bin/env python3
"""Builds the btrfs file-restore fixture: a single-device btrfs whose files the
kernel wrote compressed (zstd, zlib, LZO), inline, sparse and plain, with a
subvolume, a symlink and non-ASCII names.

    sudo python3 Tests/Fixtures/make_btrfs_fixture.py [OUT_DIR]

Needs root, a loop device and btrfs in the kernel (mkfs.btrfs cannot compress
what --rootdir copies, so the files are written through a mount). It is run by
hand when the fixture changes; the tests read the committed result (CI mounts
nothing): btrfs.qcow2 and btrfs-files.json (path → SHA-256, and the
compression types the kernel used).
"""
import hashlib, json, os, random, shutil, subprocess, sys, tempfile

OUT = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def compressible(rng, size):
    words = [b"backup", b"restore", b"chain", b"qcow2", b"btrfs", b"sendense", b"extent", b"\n"]
    out = bytearray()
    while len(out) < size:
        out += rng.choice(words) + b" "
    return bytes(out[:size])


def main():
    work = tempfile.mkdtemp(prefix="btrfs-fixture-")
    image, mnt = f"{work}/btrfs.raw", f"{work}/mnt"
    os.makedirs(mnt)
    mounted = False
    try:
        run("truncate", "-s", "128M", image)
        run("mkfs.btrfs", "-q", "-L", "btdata", image)
        run("mount", "-o", "loop,compress-force=zstd", image, mnt)
        mounted = True
        rng = random.Random(7)
        files = {}

        def write(rel, data):
            path = f"{mnt}/{rel}"
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
            files[rel] = hashlib.sha256(data).hexdigest()

        os.makedirs(f"{mnt}/zlib")
        os.makedirs(f"{mnt}/lzo")
        run("btrfs", "property", "set", f"{mnt}/zlib", "compression", "zlib")
        run("btrfs", "property", "set", f"{mnt}/lzo", "compression", "lzo")
        write("readme.txt", b"a small file: stored inline in its leaf\n")
        write("docs/zstd text.txt", compressible(rng, 1_500_000))
        write("zlib/zlib text.txt", compressible(rng, 700_000))
        write("lzo/lzo text.txt", compressible(rng, 600_000))
        write("docs/random.bin", bytes(rng.getrandbits(8) for _ in range(300_000)))
        write("Données été/résumé 日本.txt", "ünïcödé on btrfs\n".encode())
        # A sparse file: 64 KiB of data 4 MiB in, holes around it.
        sparse = bytearray(5 << 20)
        sparse[4 << 20:(4 << 20) + 65536] = compressible(rng, 65536)
        with open(f"{mnt}/sparse.bin", "wb") as f:
            f.seek(4 << 20)
            f.write(sparse[4 << 20:(4 << 20) + 65536])
            f.truncate(5 << 20)
        files["sparse.bin"] = hashlib.sha256(bytes(sparse)).hexdigest()
        os.symlink("docs/zstd text.txt", f"{mnt}/latest")
        run("btrfs", "subvolume", "create", f"{mnt}/home")
        write("home/alice/notes.txt", compressible(rng, 200_000))
        for dirpath, dirnames, names in os.walk(mnt):
            for name in names + dirnames:
                os.utime(os.path.join(dirpath, name), (1748779200, 1748779200), follow_symlinks=False)
        run("sync")
        run("umount", mnt)
        mounted = False
        dump = run("btrfs", "inspect-internal", "dump-tree", image)
        kinds = sorted({line.split("compression")[1].split()[0] for line in dump.splitlines() if "compression" in line and "extent compression" in line})
        run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", image, f"{OUT}/btrfs.qcow2")
        with open(f"{OUT}/btrfs-files.json", "w") as f:
            json.dump({"files": files, "compression": kinds}, f, indent=1, sort_keys=True, ensure_ascii=False)
            f.write("\n")
        print("wrote", f"{OUT}/btrfs.qcow2", f"{OUT}/btrfs-files.json", "compression:", kinds)
    finally:
        if mounted:
            subprocess.run(["umount", mnt])
        shutil.rmtree(work, ignore_errors=True)


main()
