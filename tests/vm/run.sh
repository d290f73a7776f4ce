#!/usr/bin/env bash
# Run a command inside a throwaway qemu VM booted with Debian 12's own kernel.
#
#   tests/vm/run.sh [--timeout S] -- COMMAND ARGS...
#
# Why: kernel TLS (setsockopt TCP_ULP "tls" + SOL_TLS TLS_TX) needs the `tls`
# TCP ULP, which some host kernels (e.g. a 6.18 build without CONFIG_TLS) lack.
# The VM sees the host's / read-only over 9p (with a throwaway tmpfs overlay on
# top, so writes work but are discarded), runs COMMAND in the current directory
# and this script exits with COMMAND's exit code (125: VM failed / timed out).
# See tests/vm/README.md.
set -euo pipefail

usage() {
  echo "usage: $0 [--timeout SECONDS] -- COMMAND [ARGS...]" >&2
  exit 2
}

timeout_s=900
while [[ $# -gt 0 ]]; do
  case "$1" in
    --timeout) [[ $# -ge 2 ]] || usage; timeout_s=$2; shift 2 ;;
    --timeout=*) timeout_s=${1#*=}; shift ;;
    --) shift; break ;;
    -h|--help) usage ;;
    *) break ;;
  esac
done
[[ $# -gt 0 ]] || usage
[[ $timeout_s =~ ^[0-9]+$ ]] || usage

log() { echo "run.sh: $*" >&2; }
die() { log "$*"; exit 125; }
# A failing setup step must not pass for COMMAND's exit code.
trap 'log "setup failed at line $LINENO"; exit 125' ERR

# The VM gets fresh tmpfs on these, so a cwd there would not exist inside. (/tmp and /var/tmp are
# the host's, under the overlay: a clean clone there, as CI may make, runs too.)
case "$PWD/" in
  /run/*|/dev/shm/*) die "cannot run from $PWD: it is a fresh tmpfs inside the VM" ;;
esac

# apt needs root; use sudo when not root (CI runs as root).
SUDO=
if [[ $EUID -ne 0 ]]; then
  command -v sudo >/dev/null || die "need root (or sudo) to install packages"
  SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
  if [[ $apt_updated -eq 0 ]]; then
    $SUDO apt-get update -q >&2
    apt_updated=1
  fi
}

# --- 1. host tools -----------------------------------------------------------
# qemu: the VM; busybox-static: the initramfs userland; kmod: modinfo for
# module dependencies; cpio: the initramfs archive.
missing=()
for p in qemu-system-x86 busybox-static kmod cpio; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
    || missing+=("$p")
done
if [[ ${#missing[@]} -gt 0 ]]; then
  log "installing ${missing[*]}"
  apt_update
  $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi

# --- kernel: Debian 12's linux-image-amd64 target, unpacked into a cache ----
# We never install it into /boot: `apt-get download` + `dpkg -x` only.
# One apt-cache call (each one re-reads the package lists: ~1.5 s here). The
# meta package pins its target exactly: "Depends: linux-image-6.1.0-N-amd64 (= V)".
resolve_kpkg() {
  apt-cache show --no-all-versions linux-image-amd64 2>/dev/null \
    | sed -n 's/^Depends:.*\(linux-image-6\.1\.[^ ,]*-amd64\) (= \([^)]*\)).*/\1 \2/p' | head -n 1
}
read -r kpkg kdeb_ver < <(resolve_kpkg || true) || true
if [[ -z ${kdeb_ver:-} ]]; then
  apt_update
  read -r kpkg kdeb_ver < <(resolve_kpkg || true) || true
fi
[[ -n ${kdeb_ver:-} ]] || die "cannot resolve the linux-image-6.1.*-amd64 package behind linux-image-amd64"

cache_root=${RINGCAST_VM_CACHE:-/var/cache/ringcast-vm}
kdir=$cache_root/${kpkg}_$kdeb_ver
if [[ ! -f $kdir/.complete ]]; then
  log "fetching $kpkg $kdeb_ver into $kdir"
  $SUDO mkdir -p "$cache_root"
  dl=$($SUDO mktemp -d "$cache_root/.dl.XXXXXX")
  # let apt's sandbox user write the download (avoids the "unsandboxed" warning)
  $SUDO chown _apt "$dl" 2>/dev/null || true
  (cd "$dl" && $SUDO apt-get download -q "$kpkg=$kdeb_ver" >&2) \
    || { apt_update; (cd "$dl" && $SUDO apt-get download -q "$kpkg=$kdeb_ver" >&2); }
  $SUDO dpkg -x "$dl"/"$kpkg"_*.deb "$dl/x"
  $SUDO rm -rf "$dl/x/usr" "$dl"/*.deb       # docs only; keep boot/ and lib/modules/
  $SUDO touch "$dl/x/.complete"
  # atomic publish: a concurrent run may have won the race, which is fine
  $SUDO mv -T "$dl/x" "$kdir" 2>/dev/null || true
  $SUDO rm -rf "$dl"
  [[ -f $kdir/.complete ]] || die "kernel unpack into $kdir failed"
fi
vmlinuz=$(echo "$kdir"/boot/vmlinuz-*)
kver=${vmlinuz##*/vmlinuz-}
moddir=$kdir/lib/modules/$kver
[[ -r $vmlinuz && -d $moddir ]] || die "bad kernel cache $kdir"

# Under TCG, decompressing the xz bzImage takes ~5 s per boot. The kernel has
# CONFIG_PVH, so qemu can boot the uncompressed ELF vmlinux directly: extract
# it once (payload starts at the xz magic) and cache it next to vmlinuz.
kernel=$kdir/vmlinux
if [[ ! -s $kernel ]]; then
  off=$(LC_ALL=C grep -aboP '\xfd7zXZ\x00' "$vmlinuz" | head -n 1 | cut -d: -f1 || true)
  tmpk=$($SUDO mktemp "$kdir/.vmlinux.XXXXXX")
  # (tail dies of SIGPIPE once xz stops after the stream: judge by the result)
  [[ -n $off ]] && { tail -c +$((off + 1)) "$vmlinuz" | xz -dc --single-stream 2>/dev/null \
                       | $SUDO tee "$tmpk" >/dev/null || true; }
  if [[ $(head -c 4 "$tmpk") == $'\x7fELF' ]]; then
    $SUDO chmod 644 "$tmpk" && $SUDO mv -f "$tmpk" "$kernel"
  else
    $SUDO rm -f "$tmpk"
    log "cannot extract vmlinux; booting the compressed bzImage (slower)"
    kernel=$vmlinuz
  fi
fi

# --- 2. initramfs ------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/ringcast-vm.XXXXXX")
# RINGCAST_VM_KEEP=1 keeps the initramfs and serial log for debugging.
if [[ ${RINGCAST_VM_KEEP:-0} == 1 ]]; then log "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi
ird=$work/root
mkdir -p "$ird"/{bin,sbin,usr/bin,usr/sbin,dev,proc,sys,lower,host,ovl,lib/modules/"$kver"}

# busybox (static: the initramfs has no libc); /init creates the applet
# links itself (400 `ln` forks on the host cost seconds).
cp /bin/busybox "$ird/bin/busybox"
ln -s busybox "$ird/bin/sh"

# Module name -> file in the unpacked tree (names use '_', files may use '-').
# (mapfile, not `while read`: read(1) byte by byte over 4000 paths takes ~1 s)
declare -A modfile
mapfile -t kos < <(find "$moddir/kernel" -name '*.ko*')
for f in "${kos[@]}"; do
  n=${f##*/}; n=${n%%.ko*}; modfile[${n//-/_}]=$f
done

# Depth-first over `modinfo -F depends` so that dependencies come first.
declare -A seen
ordered=()
add_mod() {
  local n=${1//-/_} d
  [[ -n ${seen[$n]:-} ]] && return 0
  seen[$n]=1
  [[ -n ${modfile[$n]:-} ]] || return 1   # built in (or absent)
  local deps; deps=$(modinfo -F depends "${modfile[$n]}")
  for d in ${deps//,/ }; do add_mod "$d" || true; done
  ordered+=("$n")
}
# Required: 9p root over virtio-pci, overlayfs for a writable view, kTLS.
required=(virtio_pci 9pnet_virtio 9p overlay tls)
# Best effort: the AEADs kTLS offers (AES-GCM/CCM, ChaCha20-Poly1305) and
# their CPU-accelerated variants. They must be preloaded: the kernel's own
# modprobe would look in the host's /lib/modules, which lacks this kernel.
optional=(gcm ccm ctr ghash_generic seqiv chacha20poly1305 chacha_generic
          poly1305_generic aesni_intel ghash_clmulni_intel chacha_x86_64
          poly1305_x86_64)
for m in "${required[@]}"; do
  [[ -n ${modfile[$m]:-} ]] || grep -q "/$m.ko" "$moddir/modules.builtin" \
    || die "module $m not found in $moddir"
  add_mod "$m" || true
done
for m in "${optional[@]}"; do add_mod "$m" || true; done

: >"$ird/modules.list"
for n in "${ordered[@]}"; do
  src=${modfile[$n]}
  rel=${src#"$moddir"/}; rel=${rel%%.ko*}.ko
  mkdir -p "$ird/lib/modules/$kver/${rel%/*}"
  # busybox insmod cannot decompress: store plain .ko
  case "$src" in
    *.ko.xz) xz -dc "$src" >"$ird/lib/modules/$kver/$rel" ;;
    *.ko.zst) zstd -qdc "$src" >"$ird/lib/modules/$kver/$rel" ;;
    *.ko.gz) gzip -dc "$src" >"$ird/lib/modules/$kver/$rel" ;;
    *) cp "$src" "$ird/lib/modules/$kver/$rel" ;;
  esac
  req=0; for r in "${required[@]}"; do [[ $r == "$n" ]] && req=1; done
  echo "$req $rel" >>"$ird/modules.list"
done

# The command, quoted for the host's bash inside the chroot.
{
  printf 'cd -- %q || exit 126\n' "$PWD"
  printf 'exec'; printf ' %q' "$@"; printf '\n'
} >"$ird/cmd.sh"

cat >"$ird/init" <<EOF
#!/bin/sh
# PID 1 of the VM (busybox sh). Never exits: powers off instead.
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
KVER=$kver
EOF
cat >>"$ird/init" <<'EOF'
fail() { echo "ringcast-vm: $*"; poweroff -f; echo o >/proc/sysrq-trigger; sleep 5; }

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

while read -r req rel; do
  if ! insmod "/lib/modules/$KVER/$rel" 2>/tmp.err; then
    [ "$req" = 1 ] && fail "insmod $rel failed: $(cat /tmp.err)"
    echo "ringcast-vm: (optional) insmod $rel failed: $(cat /tmp.err)"
  fi
done </modules.list

# Host / read-only over 9p; a tmpfs overlay makes it writable (writes are lost).
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose hostroot /lower \
  || fail "cannot mount the host root over 9p"
mount -t tmpfs -o mode=755 ovl /ovl && mkdir /ovl/upper /ovl/work
if ! mount -t overlay -o lowerdir=/lower,upperdir=/ovl/upper,workdir=/ovl/work overlay /host; then
  echo "ringcast-vm: overlayfs failed, falling back to a read-only bind"
  mount --bind /lower /host
  mount -t tmpfs -o mode=700 root /host/root
  mount -t tmpfs -o mode=1777 tmp /host/tmp
  mount -t tmpfs -o mode=1777 vartmp /host/var/tmp
fi
# A fresh /run, like after a boot (not the host's contents).
mount -t tmpfs -o mode=755 run /host/run
mount -t proc proc /host/proc
mount -t sysfs sys /host/sys
mount -t devtmpfs dev /host/dev
mkdir -p /host/dev/pts /host/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts /host/dev/pts
mount -t tmpfs -o mode=1777 shm /host/dev/shm

ip link set lo up
hostname ringcast-vm
# io_uring: on by default in 6.1; the sysctl only exists on >= 6.6.
[ -w /proc/sys/kernel/io_uring_disabled ] && echo 0 >/proc/sys/kernel/io_uring_disabled
ulimit -n 65536
ulimit -l unlimited 2>/dev/null || true

echo "ringcast-vm: kernel $(uname -r), up $(cut -d' ' -f1 /proc/uptime)s, tcp_available_ulp: $(cat /proc/sys/net/ipv4/tcp_available_ulp)"

# In a child: PID 1 must survive to report the exit code and power off.
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  HOME=/root USER=root LOGNAME=root TERM=dumb LANG=C.UTF-8 \
  chroot /host /bin/bash -c "$(cat /cmd.sh)" </dev/null
rc=$?
echo "RINGCAST_VM_EXIT=$rc"
poweroff -f
echo o >/proc/sysrq-trigger
sleep 5
EOF
chmod 755 "$ird/init"

initrd=$work/initramfs.cpio.gz
(cd "$ird" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1) >"$initrd"

# --- 3. boot -----------------------------------------------------------------
# TCG (no /dev/kvm); -cpu max exposes AES-NI/PCLMUL so the fast AEADs load.
# No NIC: the guest only has loopback. panic=-1 + -no-reboot: a panic exits qemu.
# qboot (from qemu-system-data) is a minimal firmware for -kernel boots: no
# SeaBIOS banner or escape codes on the serial log.
accel=tcg
[[ -w /dev/kvm ]] && accel=kvm
firmware=()
[[ -r /usr/share/qemu/qboot.rom ]] && firmware=(-bios /usr/share/qemu/qboot.rom)
qemu_log=$work/serial.log
trap - ERR
set +e
# --foreground: Ctrl-C reaches qemu too
timeout --foreground -k 10 "$timeout_s" qemu-system-x86_64 \
  -machine q35 "${firmware[@]}" -accel "$accel" -cpu max -smp 2 -m 3G \
  -nographic -no-reboot -nic none \
  -kernel "$kernel" -initrd "$initrd" \
  -append "console=ttyS0 quiet panic=-1 mitigations=off" \
  -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  </dev/null 2>&1 | sed -u 's/\r$//' | tee -p "$qemu_log"   # -p: keep logging if our stdout closes
qemu_rc=${PIPESTATUS[0]}
set -e

# (not anchored at ^: output without a final newline shares the marker's line)
rc=$(sed -n 's/.*RINGCAST_VM_EXIT=\([0-9][0-9]*\)$/\1/p' "$qemu_log" | tail -n 1)
if [[ -z $rc ]]; then
  if [[ $qemu_rc -eq 124 || $qemu_rc -eq 137 ]]; then
    log "timed out after ${timeout_s}s"
  else
    log "VM ended without an exit marker (qemu rc $qemu_rc)"
  fi
  exit 125
fi
exit "$rc"
