// Command couchplay turns this computer into a game console for the phones and
// browsers around it. main only parses flags and wires the parts together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"couchplay/app"
	"couchplay/assets"
	"couchplay/emu/libretro"
	"couchplay/host"
)

// version is set by the build (-ldflags "-X main.version=…").
var version = "dev"

type config struct {
	// given is the set of flags on the command line, by name; the settings
	// file fills in only the others (main_settings.go).
	given          map[string]bool
	listenGiven    bool // --listen was on the command line (else a busy default port moves on in the GUI)
	headless       bool
	listen         string
	rom            string
	core           string
	coresDirs      []string
	romDirs        []string
	dataDir        string
	access         string
	noMDNS         bool
	https          bool
	maxSpectators  int
	trustedOrigins []string
	verbose        bool
}

// listFlag is a repeatable or comma-separated flag.
type listFlag struct{ values *[]string }

func (l listFlag) String() string {
	if l.values == nil {
		return ""
	}
	return strings.Join(*l.values, ",")
}

func (l listFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l.values = append(*l.values, item)
		}
	}
	return nil
}

// parseFlags reads the command line. Errors are one line; the caller exits 2.
func parseFlags(args []string) (config, error) {
	var c config
	fs := flag.NewFlagSet("couchplay", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // we print one line ourselves, not the whole usage
	fs.BoolVar(&c.headless, "headless", false, "run the server without a window")
	fs.StringVar(&c.listen, "listen", ":8000", "address to serve on; port 0 picks a free port")
	fs.StringVar(&c.rom, "rom", "", "game to start (builtin:testcard for the test pattern); default: the built-in game")
	fs.StringVar(&c.core, "core", "", "libretro core for --rom")
	fs.Var(listFlag{&c.coresDirs}, "cores-dir", "extra libretro core directory (repeatable)")
	fs.Var(listFlag{&c.romDirs}, "roms", "game library folder (repeatable)")
	fs.StringVar(&c.dataDir, "data", defaultDataDir(), "directory for saves, states and config")
	fs.StringVar(&c.access, "access", "code", "who may play: code (the room code or the QR code's join key) or open (anyone who loads the page)")
	fs.BoolVar(&c.noMDNS, "no-mdns", false, "do not advertise on the LAN with mDNS")
	fs.BoolVar(&c.https, "https", false, "serve HTTPS with a self-signed certificate kept in --data (phones need it for gamepads)")
	fs.IntVar(&c.maxSpectators, "max-spectators", 16, "spectator seats")
	fs.Var(listFlag{&c.trustedOrigins}, "trusted-origins", "extra Origin hosts accepted on /ws (comma-separated)")
	fs.BoolVar(&c.verbose, "verbose", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			// The flag set's own list, so --help never misses a flag.
			fmt.Fprintln(os.Stderr, "usage: couchplay [flags]")
			fs.SetOutput(os.Stderr)
			fs.PrintDefaults()
		}
		return c, err
	}
	c.given = map[string]bool{}
	fs.Visit(func(f *flag.Flag) { c.given[f.Name] = true })
	c.listenGiven = c.given["listen"]
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q (flags start with --)", fs.Arg(0))
	}
	switch c.access {
	case "open", "code":
	default:
		return c, fmt.Errorf("--access must be open or code, got %q", c.access)
	}
	if c.maxSpectators < 0 {
		return c, fmt.Errorf("--max-spectators must be 0 or more, got %d", c.maxSpectators)
	}
	return c, nil
}

func defaultDataDir() string {
	dir, err := os.UserConfigDir()
	if err != nil {
		return ".couchplay"
	}
	return filepath.Join(dir, "couchplay")
}

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
