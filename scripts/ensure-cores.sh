#!/usr/bin/env bash
# Makes Debian's libretro cores available for tests WITHOUT installing
# RetroArch (or the packages themselves): each package named in the arguments
# (default: libretro-nestopia libretro-gambatte) is fetched with
# `apt-get download`, unpacked with `dpkg-deb -x`, and its *_libretro.so files
# are copied flat into the cache directory
#   ${COUCHPLAY_CORES_CACHE:-/var/cache/couchplay-test-cores}
# Packages whose cores are already there are skipped, so this is idempotent.
# The cache directory's path is the only thing printed on stdout (last line);
# progress and warnings go to stderr. Usage:
#   dir=$(scripts/ensure-cores.sh [libretro-PKG ...])
set -euo pipefail

cache=${COUCHPLAY_CORES_CACHE:-/var/cache/couchplay-test-cores}
[ $# -gt 0 ] || set -- libretro-nestopia libretro-gambatte

log() { echo "ensure-cores: $*" >&2; }

sudo=""
if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then
	sudo=sudo
fi

if ! mkdir -p "$cache" 2>/dev/null; then
	[ -n "$sudo" ] || { log "cannot create $cache (need root, or set COUCHPLAY_CORES_CACHE)"; exit 1; }
	$sudo mkdir -p "$cache"
	$sudo chown "$(id -u):$(id -g)" "$cache"
fi
cache=$(cd "$cache" && pwd)

# A package counts as present when the marker written after its extraction
# lists only files that are still there, or, for a cache filled by hand, when
# the core its name suggests (libretro-foo -> foo_libretro.so) is there.
present() {
	local pkg=$1 marker="$cache/.pkg-$1" f
	if [ -s "$marker" ]; then
		while IFS= read -r f; do
			[ -f "$cache/$f" ] || return 1
		done <"$marker"
		return 0
	fi
	[ -f "$cache/${pkg#libretro-}_libretro.so" ]
}

tmp=""
cleanup() { [ -z "$tmp" ] || rm -rf "$tmp"; }
trap cleanup EXIT

updated=0
for pkg in "$@"; do
	if present "$pkg"; then
		log "$pkg: already in $cache"
		continue
	fi
	if [ -z "$tmp" ]; then
		# apt-get download as root drops privileges to _apt, which must be
		# able to write the directory it downloads into; otherwise it warns
		# and downloads unsandboxed.
		tmp=$(mktemp -d /tmp/ensure-cores.XXXXXX)
		chmod 755 "$tmp"
		if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then
			chown _apt "$tmp"
		fi
	fi
	rm -rf "${tmp:?}"/*
	log "$pkg: downloading"
	if ! (cd "$tmp" && apt-get download -q "$pkg" >&2); then
		if [ "$updated" -eq 0 ]; then
			log "$pkg: download failed; running apt-get update"
			$sudo apt-get update -q >&2
			updated=1
		fi
		(cd "$tmp" && apt-get download -q "$pkg" >&2) || { log "$pkg: download failed"; exit 1; }
	fi
	debs=("$tmp"/*.deb)
	[ -f "${debs[0]}" ] || { log "$pkg: no .deb downloaded"; exit 1; }
	mkdir "$tmp/x"
	dpkg-deb -x "${debs[0]}" "$tmp/x"
	mapfile -t sos < <(find "$tmp/x" -name '*_libretro.so' \( -type f -o -type l \))
	[ ${#sos[@]} -gt 0 ] || { log "$pkg: contains no *_libretro.so"; exit 1; }
	: >"$tmp/marker"
	for so in "${sos[@]}"; do
		cp -L "$so" "$cache/"
		basename "$so" >>"$tmp/marker"
		log "$pkg: $cache/$(basename "$so")"
	done
	mv "$tmp/marker" "$cache/.pkg-$pkg"
done

# Cores are loaded into our own process, so their shared-library dependencies
# must be installed even though their packages are not.
shopt -s nullglob
for so in "$cache"/*_libretro.so; do
	missing=$(ldd "$so" 2>&1 | awk '/not found/ {print $1}' | sort -u | paste -sd " " -)
	if [ -n "$missing" ]; then
		log "WARNING: $so needs libraries that are not installed: $missing"
		log "WARNING: install the packages providing them (apt-get install <pkg>; see apt-file search)"
	fi
done

echo "$cache"
