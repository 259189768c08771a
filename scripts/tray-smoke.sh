#!/usr/bin/env bash
# Tray smoke test: on a private D-Bus session (dbus-run-session) with a
# StatusNotifierWatcher of our own (internal/traywatch, as a desktop panel
# would be) and a real window under Xvfb, couchplay's tray item must register
# with its raster icon and a menu holding Show, Copy URL and Quit.
#   scripts/tray-smoke.sh bin/couchplay bin/traywatch e2e/out
set -euo pipefail
bin=${1:-bin/couchplay}
watch=${2:-bin/traywatch}
out=${3:-e2e/out}
mkdir -p "$out"
for tool in Xvfb xdpyinfo dbus-run-session; do
	command -v "$tool" >/dev/null || { echo "tray-smoke: FAIL: missing tool: $tool" >&2; exit 1; }
done
display=""
for n in $(seq 98 -1 50); do
	if [[ ! -e /tmp/.X11-unix/X$n && ! -e /tmp/.X$n-lock ]]; then display=":$n"; break; fi
done
[[ -n "$display" ]] || { echo "tray-smoke: FAIL: no free X display" >&2; exit 1; }
Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >"$out/tray-xvfb.log" 2>&1 &
xvfb_pid=$!
trap 'kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do xdpyinfo -display "$display" >/dev/null 2>&1 && break; sleep 0.1; done

# Inside the private bus: the watcher first, then the app; the watcher's
# verdict is the test's. The app is stopped by its PID either way.
export DISPLAY="$display" BIN="$bin" WATCH="$watch" OUT="$out"
dbus-run-session -- bash -c '
	"$WATCH" -timeout 30s >"$OUT/tray-watch.log" 2>&1 &
	watch_pid=$!
	for _ in $(seq 50); do grep -q watching "$OUT/tray-watch.log" && break; sleep 0.1; done
	"$BIN" --listen 127.0.0.1:0 --no-mdns --access open --data "$OUT/tray-data" >"$OUT/tray-app.log" 2>&1 &
	app_pid=$!
	status=0
	wait "$watch_pid" || status=$?
	kill -TERM "$app_pid" 2>/dev/null || true
	for _ in $(seq 50); do kill -0 "$app_pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$app_pid" 2>/dev/null || true
	wait "$app_pid" 2>/dev/null || true
	cat "$OUT/tray-watch.log"
	if [ "$status" -ne 0 ]; then echo "--- app log ---"; tail -n 20 "$OUT/tray-app.log"; fi
	exit "$status"
'
