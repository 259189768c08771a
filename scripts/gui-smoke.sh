#!/usr/bin/env bash
# GUI smoke test: run couchplay's window under a private Xvfb with the test card, screenshot it,
# check that the QR code in the picture decodes to exactly the join URL the host prints, then
# join that URL from real Chromium (e2e/hold-button.mjs) and check that the game area in the
# window turns white while the browser holds A, and black again after.
#
# usage: scripts/gui-smoke.sh [BINARY] [OUTDIR]     (defaults: bin/couchplay e2e/out)
# Needs: Xvfb, xdpyinfo, xdotool, import + identify + convert (ImageMagick), zbarimg (zbar-tools),
# node with e2e's node_modules (playwright-core) and Debian's chromium.
set -euo pipefail

bin=${1:-bin/couchplay}
out=${2:-e2e/out}
readonly timeout_s=30 # bound for every wait below

xvfb_pid=""
app_pid=""
hold_pid=""

fail() {
	echo "gui-smoke: FAIL: $*" >&2
	if [[ -s "$out/gui-stderr.log" ]]; then
		echo "--- last lines of $out/gui-stderr.log ---" >&2
		tail -n 20 "$out/gui-stderr.log" >&2
	fi
	exit 1
}

# stop ends a process we started: TERM, a bounded wait, then KILL.
stop() {
	local pid=$1
	[[ -n "$pid" ]] || return 0
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# close_player closes the player's stdin (the coprocess's write end and our copy of it): at
# EOF it closes its browser and exits.
close_player() {
	if [[ -n "${hold_in:-}" ]]; then
		exec {hold_in}>&-
		hold_in=""
	fi
	if [[ -n "${HOLD[1]:-}" ]]; then
		eval "exec ${HOLD[1]}>&-"
	fi
}

cleanup() {
	close_player
	stop "$hold_pid"
	stop "$app_pid"
	stop "$xvfb_pid"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for tool in Xvfb xdpyinfo xdotool import identify convert zbarimg node; do
	command -v "$tool" >/dev/null || fail "missing tool: $tool"
done
[[ -x "$bin" ]] || fail "no executable at $bin (build it first: make build)"
mkdir -p "$out"
rm -f "$out/gui.png" "$out/gui-stderr.log" "$out/gui-stdout.log"

# A free display number: no socket and no lock file.
display=""
for n in $(seq 99 -1 50); do
	if [[ ! -e /tmp/.X11-unix/X$n && ! -e /tmp/.X$n-lock ]]; then
		display=":$n"
		break
	fi
done
[[ -n "$display" ]] || fail "no free X display number in 50-99"

Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >"$out/xvfb.log" 2>&1 &
xvfb_pid=$!
deadline=$((SECONDS + timeout_s))
until xdpyinfo -display "$display" >/dev/null 2>&1; do
	kill -0 "$xvfb_pid" 2>/dev/null || fail "Xvfb $display exited: $(tail -n 3 "$out/xvfb.log")"
	((SECONDS < deadline)) || fail "Xvfb $display did not accept connections within ${timeout_s}s"
	sleep 0.2
done
echo "gui-smoke: Xvfb on $display (pid $xvfb_pid)"

DISPLAY="$display" DBUS_SESSION_BUS_ADDRESS= "$bin" --listen 127.0.0.1:0 --no-mdns --access code --rom builtin:testcard --data "$out/gui-data" \
	>"$out/gui-stdout.log" 2>"$out/gui-stderr.log" &
app_pid=$!

# The first "couchplay: serving URL" line names the URL the window's QR code must encode.
url=""
deadline=$((SECONDS + timeout_s))
while [[ -z "$url" ]]; do
	url=$(sed -nE 's/^couchplay: serving (https?:\/\/[^ ]+).*/\1/p' "$out/gui-stderr.log" | head -n 1)
	[[ -n "$url" ]] && break
	kill -0 "$app_pid" 2>/dev/null || fail "$bin exited before printing 'couchplay: serving'"
	((SECONDS < deadline)) || fail "no 'couchplay: serving' line on stderr within ${timeout_s}s"
	sleep 0.2
done
echo "gui-smoke: host serves $url"
# In code mode the QR code carries the join key: it must decode to the "couchplay: join" line's URL.
join=""
deadline=$((SECONDS + timeout_s))
until [[ -n "$join" ]]; do
	join=$(sed -nE 's/^couchplay: join (https?:\/\/[^ ]+#key=[^ ]+)$/\1/p' "$out/gui-stderr.log" | head -n 1)
	[[ -n "$join" ]] && break
	((SECONDS < deadline)) || fail "no 'couchplay: join URL#key=…' line in code mode"
	sleep 0.2
done
code=$(sed -nE 's/^couchplay: serving .* \(room code ([0-9]{4})\)$/\1/p' "$out/gui-stderr.log" | head -n 1)
[[ -n "$code" ]] || fail "no room code on the serving line"
url=$join

deadline=$((SECONDS + timeout_s))
until DISPLAY="$display" xdotool search --onlyvisible --name '^couchplay$' >/dev/null 2>&1; do
	kill -0 "$app_pid" 2>/dev/null || fail "$bin exited before opening its window"
	((SECONDS < deadline)) || fail "no visible window named couchplay within ${timeout_s}s"
	sleep 0.2
done
echo "gui-smoke: window is up"

# The window may be mapped before its first frame is drawn, so retry screenshot + decode until the deadline.
decoded=""
deadline=$((SECONDS + timeout_s))
while :; do
	kill -0 "$app_pid" 2>/dev/null || fail "$bin exited while its window was being checked"
	import -display "$display" -window root "$out/gui.png"
	decoded=$(zbarimg -q --raw "$out/gui.png" 2>/dev/null || true)
	[[ "$decoded" == "$url" ]] && break
	((SECONDS < deadline)) || break
	sleep 0.5
done

colours=$(identify -format '%k' "$out/gui.png")
((colours > 1)) || fail "screenshot $out/gui.png is one flat colour"
if [[ "$decoded" != "$url" ]]; then
	if [[ -z "$decoded" ]]; then
		fail "no QR code found in $out/gui.png (want $url)"
	fi
	fail "QR code in $out/gui.png says '$decoded', want '$url'"
fi

echo "gui-smoke: window QR decodes to the join URL $url (room code $code; $colours colours, screenshot $out/gui.png)"

# The game area: the left part of the window (the game view, beside the panel); its
# middle is inside the picture whatever the letterboxing.
win=$(DISPLAY="$display" xdotool search --onlyvisible --name '^couchplay$' | head -n 1)
eval "$(DISPLAY="$display" xdotool getwindowgeometry --shell "$win")" # X Y WIDTH HEIGHT
gx=$((X + WIDTH * 27 / 100 - 10))
gy=$((Y + HEIGHT * 45 / 100 - 10))

# game_brightness prints the mean brightness (0-1) of a 20x20 patch in the game area.
game_brightness() {
	import -display "$display" -window root "$out/gui-game.png"
	convert "$out/gui-game.png" -crop "20x20+$gx+$gy" +repage -colorspace Gray -format '%[fx:mean]' info:
}

# wait_game black|white: retries screenshots until the patch is that colour or the deadline passes.
wait_game() {
	local want=$1 b=""
	local deadline=$((SECONDS + timeout_s))
	while :; do
		kill -0 "$app_pid" 2>/dev/null || fail "$bin exited while the game area was being checked"
		b=$(game_brightness)
		case $want in
		white) awk -v b="$b" 'BEGIN { exit !(b > 0.9) }' && break ;;
		black) awk -v b="$b" 'BEGIN { exit !(b < 0.1) }' && break ;;
		esac
		((SECONDS < deadline)) || fail "game area at +$gx+$gy is $b bright, want $want (screenshot $out/gui-game.png)"
		sleep 0.3
	done
	cp "$out/gui-game.png" "$out/gui-game-$want.png"
	echo "gui-smoke: game area $want (brightness $b)"
}

# The player runs as a coprocess: commands go to its stdin, its answers are read with a bound.
coproc HOLD { exec node "$(dirname "$0")/../e2e/hold-button.mjs" "$url" 2>"$out/gui-player.log"; }
hold_pid=$HOLD_PID
exec {hold_in}>&"${HOLD[1]}"
hold_out=${HOLD[0]}
# expect WORD: the player's next line must be WORD within the bound.
expect() {
	local line=""
	read -r -t "$timeout_s" -u "$hold_out" line || fail "the browser player did not say '$1' within ${timeout_s}s: $(tail -n 5 "$out/gui-player.log")"
	[[ "$line" == "$1" ]] || fail "the browser player said '$line', want '$1'"
}
expect playing
wait_game black
echo press >&"$hold_in"
expect held
wait_game white
echo release >&"$hold_in"
expect released
wait_game black

# No D-Bus session here (DBUS_SESSION_BUS_ADDRESS is cleared for the app): no tray, and a SIGTERM
# still closes the window and exits 0 with no panic (Fyne's tray used to panic on quit without a bus).
close_player
deadline=$((SECONDS + timeout_s))
while kill -0 "$hold_pid" 2>/dev/null && ((SECONDS < deadline)); do
	sleep 0.2 # the player closes its browser at EOF
done
stop "$hold_pid"
hold_pid=""
kill -TERM "$app_pid"
status=0
deadline=$((SECONDS + timeout_s))
while kill -0 "$app_pid" 2>/dev/null; do
	((SECONDS < deadline)) || fail "the window did not exit within ${timeout_s}s of SIGTERM"
	sleep 0.2
done
wait "$app_pid" || status=$?
app_pid=""
((status == 0)) || fail "the window exited $status after SIGTERM, want 0"
! grep -q '^panic:' "$out/gui-stderr.log" || fail "the window panicked: $(grep -A3 '^panic:' "$out/gui-stderr.log")"

echo "gui-smoke: PASS: QR = join URL, the window's game area follows a browser player's A, and with no D-Bus it quits cleanly (exit 0)"
