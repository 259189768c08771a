# couchplay — the two commands a new machine needs are `make run` and `make test`.
# Both install what they need (Debian packages, npm packages) and skip what is there.

GO        ?= go
BIN       := bin/couchplay
VERSION   := $(shell git describe --always --dirty 2>/dev/null || echo dev)
GOFLAGS   := -buildvcs=false
LDFLAGS   := -X main.version=$(VERSION)

# Debian packages: cgo codecs, the libretro header (retroarch-dev: the header
# only, not RetroArch), speexdsp (resampling) and Fyne's X11/GL headers to build; browser,
# X server and image tools to test.
BUILD_DEBS := gcc pkg-config libvpx-dev libopus-dev libspeexdsp-dev retroarch-dev libretro-core-info libgl1-mesa-dev xorg-dev
TEST_DEBS  := cc65 chromium xvfb x11-utils xdotool imagemagick zbar-tools nginx apache2 nodejs npm

.PHONY: all run build deps test-deps test vet unit e2e gui-smoke bench clean

all: build

deps:
	@scripts/ensure-apt.sh $(BUILD_DEBS)

build: deps
	CGO_ENABLED=1 $(GO) build $(GOFLAGS) -ldflags "$(LDFLAGS)" -o $(BIN) .

# Starts the window; with no display it says so and serves headless.
run: build
	$(BIN) $(ARGS)

test-deps: deps
	@command -v node >/dev/null && command -v npm >/dev/null || scripts/ensure-apt.sh nodejs npm
	@scripts/ensure-apt.sh $(filter-out nodejs npm,$(TEST_DEBS))
	@cd e2e && { [ -d node_modules/playwright-core ] && npm ls --silent >/dev/null 2>&1 || npm ci --no-audit --no-fund; }

test: test-deps build vet unit e2e gui-smoke

vet:
	$(GO) vet $(GOFLAGS) ./...

unit:
	$(GO) test $(GOFLAGS) -race -count=1 -timeout 5m ./...

e2e: build
	cd e2e && node --test --test-concurrency=1 ./

gui-smoke: build
	scripts/gui-smoke.sh $(BIN) e2e/out

bench: test-deps build
	$(GO) test $(GOFLAGS) -run '^$$' -bench . -benchtime 2s ./stream/ ./emu/
	node e2e/bench.mjs

clean:
	rm -rf bin e2e/out
