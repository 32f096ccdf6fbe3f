#!/bin/sh
# guest/image/mkimage.sh - build the test guest's initramfs (no root needed).
#
#   mkimage.sh KVER OUT.img WORKLOAD_DIR [MODULE.ko]
#
# Stages a tree in OUT.img.root/ (busybox-static + applet links, /init, the
# virtio modules of kernel KVER with their dependencies from modules.dep, the
# workloads from WORKLOAD_DIR, optionally the project's virtio_autoballoon.ko as
# /lib/modules/extra/virtio_autoballoon.ko), then packs it with
# `cpio -o -H newc -R 0:0 | gzip` into OUT.img. The kernel's built-in initramfs
# already provides /dev/console, so no device nodes are needed.
set -eu

kver=$1 out=$2 wldir=$3 module=${4:-}
here=$(cd "$(dirname "$0")" && pwd)
mods=${AB_MODULES_DIR:-/lib/modules}/$kver
busybox=${AB_BUSYBOX:-/bin/busybox}
# The modules /init loads, in this order (dependencies are added before each).
want="virtio_pci virtio_blk virtio_balloon"

[ -f "$mods/modules.dep" ] || { echo "mkimage: no $mods/modules.dep" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
	echo "mkimage: $busybox is not static (install busybox-static)" >&2
	exit 1
fi

root=$out.root
rm -rf "$root"
mkdir -p "$root"/bin "$root"/sbin "$root"/usr/bin "$root"/usr/sbin "$root"/proc \
	"$root"/sys "$root"/dev "$root"/tmp "$root"/etc "$root"/ab/bin \
	"$root"/lib/modules/extra "$root"/root

cp "$busybox" "$root"/bin/busybox
for a in $("$busybox" --list-full); do
	[ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done

# modules: copy each wanted module and its dependencies; write the load order
: > "$root"/etc/ab-modules
add_module() { # $1 = path relative to $mods (as in modules.dep)
	rel=$1
	name=$(basename "$rel"); name=${name%%.ko*}
	grep -qx "$name" "$root"/etc/ab-modules && return 0
	case $rel in
	*.ko) cp "$mods/$rel" "$root/lib/modules/$name.ko" ;;
	*.ko.xz) xz -dc "$mods/$rel" > "$root/lib/modules/$name.ko" ;;
	*.ko.zst) zstd -qdc "$mods/$rel" > "$root/lib/modules/$name.ko" ;;
	*.ko.gz) gzip -dc "$mods/$rel" > "$root/lib/modules/$name.ko" ;;
	*) echo "mkimage: unknown module file $rel" >&2; exit 1 ;;
	esac
	echo "$name" >> "$root"/etc/ab-modules
}
for m in $want; do
	line=$(grep -E "(^|/)$m\.ko(\.[a-z]+)?:" "$mods/modules.dep" || true)
	[ -n "$line" ] || { echo "mkimage: module $m not in $mods/modules.dep" >&2; exit 1; }
	path=${line%%:*}
	deps=${line#*:}
	# modules.dep lists dependencies deepest last: load them in reverse
	rev=""
	for d in $deps; do rev="$d $rev"; done
	for d in $rev; do add_module "$d"; done
	add_module "$path"
done

if [ -n "$module" ]; then
	cp "$module" "$root"/lib/modules/extra/virtio_autoballoon.ko
fi

for w in "$wldir"/*; do
	[ -f "$w" ] && [ -x "$w" ] || continue
	cp "$w" "$root"/ab/bin/
	strip --strip-debug "$root/ab/bin/${w##*/}" 2>/dev/null || true
done
[ -x "$root"/ab/bin/idle ] && ln -sf idle "$root"/ab/bin/sleep

cp "$here"/init "$root"/init
chmod 755 "$root"/init
echo "$kver" > "$root"/etc/ab-kver

(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | \
	cpio -o -H newc -R 0:0 --quiet) | gzip -6 > "$out.tmp"
mv "$out.tmp" "$out"
