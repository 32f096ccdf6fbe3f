#!/bin/sh
# guest/image/extract-vmlinux.sh BZIMAGE OUT - write the uncompressed kernel ELF
# inside a bzImage to OUT, but only when it carries a PVH entry note
# (CONFIG_PVH): QEMU then boots it directly with -kernel, skipping the
# in-guest decompression (about 3 s of a 5 s boot under TCG). Exits 0 without
# writing OUT when there is no such kernel inside; the harness then boots
# BZIMAGE.
set -eu
in=$1 out=$2
rm -f "$out" "$out.tmp"

try() { # $1 = magic as a grep -P pattern, $2... = decompressor
	magic=$1; shift
	command -v "$1" > /dev/null 2>&1 || return 1
	for off in $(LC_ALL=C grep -aboP "$magic" "$in" | cut -d: -f1); do
		tail -c +$((off + 1)) "$in" | "$@" > "$out.tmp" 2>/dev/null || true
		if [ "$(head -c 4 "$out.tmp" | od -An -c | tr -d ' ')" = '177ELF' ]; then
			return 0
		fi
	done
	return 1
}

if try '\xfd7zXZ\x00' xz -dc || try '\x28\xb5\x2f\xfd' zstd -dc || \
   try '\x1f\x8b\x08' gzip -dc || try '\x02\x21\x4c\x18' lz4 -dc; then
	# XEN_ELFNOTE_PHYS32_ENTRY (18): the PVH entry point
	if readelf -n "$out.tmp" 2>/dev/null | grep -qE 'type: \(0x00000012\)|PHYS32_ENTRY'; then
		mv "$out.tmp" "$out"
		exit 0
	fi
fi
rm -f "$out.tmp"
echo "extract-vmlinux: no PVH-bootable ELF in $in; guests boot the bzImage" >&2
exit 0
