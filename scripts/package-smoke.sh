#!/usr/bin/env bash
# Package smoke test: the Linux bundle `make package` made (couchplay.tar.xz) holds the
# binary, the .desktop file and the icon; `make user-install` from it, into a scratch HOME,
# puts a launcher whose Exec runs the installed binary, and that binary serves.
#
# usage: scripts/package-smoke.sh [BUNDLE] [OUTDIR]   (defaults: couchplay.tar.xz e2e/out)
set -euo pipefail

bundle=${1:-couchplay.tar.xz}
out=${2:-e2e/out}
readonly timeout_s=30
readonly app_id=io.couchplay.couchplay
host_pid=""

fail() {
	echo "package-smoke: FAIL: $*" >&2
	exit 1
}
cleanup() {
	if [[ -n "$host_pid" ]] && kill -0 "$host_pid" 2>/dev/null; then
		kill -TERM "$host_pid"
		wait "$host_pid" 2>/dev/null || true
	fi
}
trap cleanup EXIT

[[ -s "$bundle" ]] || fail "no bundle at $bundle (make package makes it)"
work="$out/package-smoke"
rm -rf "$work"
mkdir -p "$work/extract" "$work/home"
tar -xJf "$bundle" -C "$work/extract"
root="$work/extract/couchplay"
for f in usr/local/bin/couchplay "usr/local/share/applications/$app_id.desktop" "usr/local/share/pixmaps/$app_id.png" Makefile; do
	[[ -s "$root/$f" ]] || fail "the bundle has no $f"
done
file_type=$(head -c 4 "$root/usr/local/share/pixmaps/$app_id.png" | od -An -c | tr -d ' ')
[[ "$file_type" == *PNG* ]] || fail "the bundle's icon is not a PNG"

home=$(cd "$work/home" && pwd)
make -s -C "$root" user-install HOME="$home" >/dev/null
desktop="$home/.local/share/applications/$app_id.desktop"
[[ -s "$desktop" ]] || fail "user-install put no launcher in $desktop"
grep -qx 'Type=Application' "$desktop" || fail "$desktop: no Type=Application"
grep -qx 'Categories=Game;' "$desktop" || fail "$desktop: not in the Game category: $(grep Categories "$desktop" || echo none)"
grep -qx "Icon=$app_id" "$desktop" || fail "$desktop: wrong icon line"
[[ -s "$home/.local/share/icons/$app_id.png" ]] || fail "user-install put no icon"
exec_line=$(sed -n 's/^Exec=//p' "$desktop")
exec_bin=${exec_line%% *}
[[ "$exec_bin" == "$home/.local/bin/couchplay" && -x "$exec_bin" ]] || fail "launcher Exec=$exec_line is not the installed binary"

# What the launcher starts serves (headless here: CI has no display).
"$exec_bin" --headless --listen 127.0.0.1:0 --no-mdns --access open --data "$work/data" 2>"$work/host.log" &
host_pid=$!
url=""
deadline=$((SECONDS + timeout_s))
until [[ -n "$url" ]]; do
	url=$(sed -nE 's/^couchplay: serving (http:\/\/[^ ]+).*/\1/p' "$work/host.log" | head -n 1)
	kill -0 "$host_pid" 2>/dev/null || fail "the installed binary exited: $(tail -n 3 "$work/host.log")"
	((SECONDS < deadline)) || fail "the installed binary printed no serving line in ${timeout_s}s"
	sleep 0.2
done
health=$(curl -fsS --max-time 5 "${url}healthz") || fail "GET ${url}healthz failed"
[[ "$health" == *'"status":"ok"'* ]] || fail "healthz said $health"
echo "package-smoke: PASS: bundle has binary, launcher and icon; user-install launcher runs a host that serves $url"
