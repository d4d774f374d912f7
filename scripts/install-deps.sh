#!/usr/bin/env bash
# Installs the system packages Sendense needs to build and run on Debian 12.
# As root it installs them with apt-get; otherwise it prints the command.
# Usage: scripts/install-deps.sh [--test]   (--test adds what the tests need)
set -euo pipefail

packages=(
  libsqlite3-dev   # GRDB links against the system SQLite
  zlib1g-dev       # deflate-compressed QCOW2 clusters
  libzstd-dev      # zstd-compressed QCOW2 clusters
  libtsk-dev       # The Sleuth Kit: partitions and filesystems for file-level restore
  libarchive-dev   # zip / tar.gz streams of restored folders
  libfsxfs-dev     # libyal's XFS reader (file restore on RHEL-family VMs)
  libbfio-dev      # libyal's I/O handles: libfsxfs reads the backup through one
  liblzo2-dev      # LZO-compressed btrfs extents
  libvirt-dev      # libvirt's C API: live backups of running domains (pull mode, checkpoints)
  nfs-common       # mount.nfs for NFS repositories
  cifs-utils       # mount.cifs for CIFS/SMB repositories
  util-linux       # mount / umount
  coreutils        # timeout, around every mount
  python3
  libjs-chart.js   # Chart.js for the web GUI's charts (served at /vendor/chart.js)
  qemu-utils       # qemu-img (bitmaps of qemu_image VMs) and qemu-nbd (exports their disks)
  nbdkit           # exports VMware disks (curl, ssh and, where installed, vddk plugins)
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(
    python3-pip
    libnbd-bin     # nbdcopy: streams what an image reads as, to hash it
    fdisk          # sfdisk: GPT and MBR disks for the file-restore tests
    e2fsprogs      # mkfs.ext4 -d, debugfs
    ntfs-3g        # mkntfs, and ntfs-3g (FUSE) to fill an NTFS image without a loop device
    fuse2fs        # an ext4 image mounted through FUSE: the small repository the disk-full test fills
    dosfstools     # mkfs.vfat
    mtools         # mcopy into a FAT image
    xfsprogs       # xfs_db: what an XFS inode says, to check file restore's XFS reader against
    curl           # test hooks of the vCenter simulator; the event stream a CLI test watches
    wrk            # HTTP load: the hub under many connections (tests and make bench)
    chromium       # the web GUI's end-to-end tests (Playwright drives it)
    golang-go      # builds the test vCenter simulator (Tests/vcsim)
    golang-github-vmware-govmomi-dev  # govmomi's vcsim, from Debian's sources
    qemu-system-x86              # runs the test guests of live backups
    seabios                      # their BIOS (a recommendation only of qemu-system-x86)
    libvirt-daemon-system        # libvirtd and virtlogd (the tests start them: no systemd)
    libvirt-daemon-driver-qemu
    libvirt-clients              # virsh: the tests pause guests and look at checkpoints
    qemu-guest-agent             # runs inside the test guest (copied into its initramfs)
    busybox-static               # the test guest's userland
    linux-image-amd64            # the test guest's kernel and virtio/ext4 modules
    kmod                         # modprobe --show-depends: the modules the guest needs
    syslinux syslinux-common     # the boot loader of the test guest that boots from its own disk
    virtnbdbackup                # make bench's reference for live backups of libvirt domains
    openssh-server               # sshd: "another host" for libvirt reached through SSH (the tests start their own)
    gdb                          # scripts/run-tests.sh: where a run past its deadline hangs
    psmisc                       # pstree, for the same report
  )
fi

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done

if ((${#missing[@]})); then
  if [[ $(id -u) -eq 0 ]]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
  else
    echo "Sendense needs these Debian packages; install them as root:" >&2
    echo "  apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

if ! command -v swift >/dev/null 2>&1; then
  echo "swift is not on PATH: install Swift 6.x (https://www.swift.org/install/linux/) and try again" >&2
  exit 1
fi

if [[ "${1:-}" == "--test" ]]; then
  # The OpenAPI document is checked against the 3.1 schema.
  if ! python3 -c "import openapi_spec_validator" 2>/dev/null; then
    # Debian's own python3 refuses plain pip installs (PEP 668); allow it there.
    python3 -m pip install -q openapi-spec-validator 2>/dev/null \
      || python3 -m pip install -q --break-system-packages openapi-spec-validator
  fi
  # Playwright drives Debian's chromium in the GUI tests (its own browser downloads are not used).
  if ! python3 -c "import playwright" 2>/dev/null; then
    python3 -m pip install -q playwright 2>/dev/null \
      || python3 -m pip install -q --break-system-packages playwright
  fi
  # Schemathesis, a client nobody here wrote, holds the hub to its OpenAPI document (Tests/api).
  if ! python3 -c "import schemathesis" 2>/dev/null; then
    python3 -m pip install -q "schemathesis==4.32.5" 2>/dev/null \
      || python3 -m pip install -q --break-system-packages "schemathesis==4.32.5"
  fi
fi
