# couchplay — the two commands a new machine needs are `make run` and `make test`.
# Both install what they need (Debian packages, npm packages) and skip what is there.

GO        ?= go
BIN       := bin/couchplay
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS   := -buildvcs=false
LDFLAGS   := -X main.version=$(VERSION)

# Debian packages: cgo codecs and libyuv (RGBA → I420), the libretro header (retroarch-dev: the header
# only, not RetroArch), speexdsp (resampling) and Fyne's X11/GL headers to build; browser,
# X server and image tools to test.
BUILD_DEBS := gcc pkg-config libvpx-dev libopus-dev libyuv-dev libspeexdsp-dev retroarch-dev libretro-core-info libgl1-mesa-dev xorg-dev
TEST_DEBS  := cc65 curl dbus-daemon iproute2 chromium firefox-esr webkit2gtk-driver xvfb x11-utils xdotool imagemagick zbar-tools nginx apache2 nodejs npm

.PHONY: all run build relay deps test-deps testdata test vet unit e2e gui-smoke tray-smoke package-smoke bench guess fuzz soak package install clean

# Test data made here, never committed: Debian's libretro cores (unpacked, without
# RetroArch) in a cache kept across runs, the NES test ROM (cc65) and the C test
# cores. Tests find them through these variables.
export COUCHPLAY_CORES_CACHE ?= /var/cache/couchplay-test-cores
export COUCHPLAY_TEST_DATA   := $(CURDIR)/e2e/out/testdata
TESTCORE_CFLAGS := -shared -fPIC -O1 -Wall -I/usr/include/libretro-common

all: build

deps:
	@scripts/ensure-apt.sh $(BUILD_DEBS)

build: deps
	CGO_ENABLED=1 $(GO) build $(GOFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN) .

# The living-room relay for e2e and bench: a TURN server on loopback whose
# relayed packets pass through emulated lossy, jittery, rate-capped links.
relay: deps
	$(GO) build $(GOFLAGS) -o bin/lossyturn ./internal/lossyturn

# Starts the window; with no display it says so and serves headless.
run: build
	$(BIN) $(ARGS)

test-deps: deps
	@command -v node >/dev/null && command -v npm >/dev/null || scripts/ensure-apt.sh nodejs npm
	@scripts/ensure-apt.sh $(filter-out nodejs npm,$(TEST_DEBS))
	@cd e2e && { [ -d node_modules/playwright-core ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund; }

testdata: test-deps
	@scripts/ensure-cores.sh libretro-nestopia libretro-gambatte >/dev/null
	@mkdir -p $(COUCHPLAY_TEST_DATA)
	ca65 emu/libretro/testdata/nes/quad.s -o $(COUCHPLAY_TEST_DATA)/quad.o
	ld65 -C emu/libretro/testdata/nes/nes.cfg $(COUCHPLAY_TEST_DATA)/quad.o -o $(COUCHPLAY_TEST_DATA)/quad.nes
	gcc $(TESTCORE_CFLAGS) -o $(COUCHPLAY_TEST_DATA)/testcore_libretro.so emu/libretro/testdata/testcore/testcore.c
	gcc $(TESTCORE_CFLAGS) -o $(COUCHPLAY_TEST_DATA)/notacore_libretro.so emu/libretro/testdata/testcore/notacore.c

test: test-deps build testdata vet unit e2e gui-smoke tray-smoke package-smoke

vet:
	$(GO) vet $(GOFLAGS) ./...

unit: testdata
	$(GO) test $(GOFLAGS) -race -count=1 -timeout 5m ./...

e2e: build relay testdata
	cd e2e && node --test --test-concurrency=1 ./

gui-smoke: build test-deps
	scripts/gui-smoke.sh $(BIN) e2e/out

# The tray item, as a panel sees it, on a private D-Bus with our own watcher.
tray-smoke: build
	$(GO) build $(GOFLAGS) -o bin/traywatch ./internal/traywatch
	scripts/tray-smoke.sh $(BIN) bin/traywatch e2e/out

bench: test-deps build relay testdata
	$(GO) test $(GOFLAGS) -run '^$$' -bench . -benchtime 2s ./stream/ ./emu/ ./emu/libretro/
	node e2e/bench.mjs

# A 60 s brute force of the room code over WHEP from 1,000 loopback addresses
# against a real host: prints what it answered and whether a guess got in.
guess: test-deps build
	node e2e/guess.mjs --seconds $(or $(GUESS_SECONDS),60)

# Every fuzz target for FUZZTIME each (default 20s); prints execs and crashes.
fuzz: deps testdata
	scripts/fuzz.sh

# 200 mixed join/leave cycles of real pion clients (ws, poll, WHEP; some vanish),
# then the host's counts, goroutines and fds must be back at baseline.
soak: build
	$(GO) run $(GOFLAGS) ./internal/soak -bin $(BIN) -cycles $(or $(CYCLES),200)

# The Linux desktop bundle (binary, .desktop file, icon) made by Fyne's own
# packager, and its install into the user's applications menu.
FYNE_TOOL := fyne.io/tools/cmd/fyne@v1.7.4
package: deps
	@mkdir -p e2e/out && cp FyneApp.toml e2e/out/FyneApp.toml.orig
	@# fyne package -release bumps Build in FyneApp.toml; a build must not dirty the tree.
	$(GO) run $(FYNE_TOOL) package -os linux -release; status=$$?; cp e2e/out/FyneApp.toml.orig FyneApp.toml; exit $$status
	@echo "package: couchplay.tar.xz"

# The bundle as a user gets it: binary, launcher (Game category) and icon; its
# user-install into a scratch HOME gives a launcher that starts a serving host.
package-smoke: package test-deps
	scripts/package-smoke.sh couchplay.tar.xz e2e/out

install: package
	mkdir -p e2e/out/package && tar -xJf couchplay.tar.xz -C e2e/out/package
	$(MAKE) -C e2e/out/package/couchplay user-install

clean:
	rm -rf bin e2e/out couchplay.tar.xz
