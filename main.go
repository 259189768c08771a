// Command couchplay turns this computer into a game console for the phones and
// browsers around it. main only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"couchplay/app"
	"couchplay/assets"
	"couchplay/emu/libretro"
	"couchplay/host"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

func main() {
	if libretro.IsChild(os.Args) { // this binary re-executed to host a libretro core
		os.Exit(libretro.ChildMain())
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	c, err := parseFlags(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: %v\n", err)
		return 2
	}
	store := settingsStore(c)
	c = applySettings(c, store, os.Stderr)
	// Catch signals before anything is served, so a stop that comes early
	// still shuts down cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer profileCPU(os.Getenv("COUCHPLAY_CPUPROFILE"))()

	level := slog.LevelInfo
	if c.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	slog.SetDefault(log)

	if !c.headless && os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		fmt.Fprintln(os.Stderr, "couchplay: no display (DISPLAY and WAYLAND_DISPLAY are unset); running headless")
		c.headless = true
	}

	h, err := host.New(host.Config{
		Listen: c.listen, NextPorts: nextPorts(c), Version: version,
		ROM: c.rom, Core: c.core, CoresDirs: c.coresDirs, ROMDirs: c.romDirs, DataDir: c.dataDir,
		AccessCode: c.access == "code", HTTPSDir: httpsDir(c), MDNS: !c.noMDNS,
		MaxSpectators: c.maxSpectators, TrustedOrigins: c.trustedOrigins,
		Client: assets.Files, Settings: store, Logger: log, Stderr: os.Stderr,
	})
	if err == nil {
		err = h.Start()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: %v\n", err)
		return 1
	}

	if c.headless {
		// Not waited for: a read of stdin cannot be cancelled, and the
		// commands it runs are the host's own (Kick, …), which end with it.
		go h.Commands(os.Stdin)
		select {
		case <-ctx.Done():
		case <-h.RestartAsked():
		}
	} else if err := app.Run(ctx, h); err != nil {
		log.Error("window failed", "err", err)
	}

	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := h.Shutdown(shutdownCtx); err != nil {
		log.Error("shutting down", "err", err)
	}
	if h.RestartWanted() && ctx.Err() == nil { // a SIGTERM meanwhile wins: stop
		return restartSelf(log)
	}
	return 0
}

// restartSelf replaces this process with a fresh copy of itself, same
// arguments and environment, so the saved settings are read again. exec, not
// a child: the PID (a service manager's, a desktop's launcher) stays, and
// the ports were closed by the shutdown before it. It returns only on failure.
func restartSelf(log *slog.Logger) int {
	exe, err := os.Executable()
	if err == nil {
		fmt.Fprintln(os.Stderr, "couchplay: restarting with the saved settings")
		err = syscall.Exec(exe, os.Args, os.Environ())
	}
	fmt.Fprintf(os.Stderr, "couchplay: cannot restart: %v; start couchplay again\n", err)
	log.Error("restart failed", "err", err)
	return 1
}

// httpsDir is where --https keeps its certificate, "" without --https.
func httpsDir(c config) string {
	if !c.https {
		return ""
	}
	return filepath.Join(c.dataDir, "https")
}

// nextPorts: a double-click (the window, no --listen) whose default port is
// taken tries the next ones and says so (DESIGN §2); an explicit --listen or
// a headless server fails with one clear line instead.
func nextPorts(c config) int {
	if c.headless || c.listenGiven {
		return 0
	}
	return 10
}

// profileCPU writes a CPU profile of the whole run to file (for make bench's
// profile: COUCHPLAY_CPUPROFILE=cpu.out, then go tool pprof); "" profiles nothing.
func profileCPU(file string) (stop func()) {
	if file == "" {
		return func() {}
	}
	f, err := os.Create(file)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: no CPU profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}
