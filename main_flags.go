package main

// The command line: couchplay's flags (DESIGN §2), read into a config that
// the settings file fills in (main_settings.go) and run wires up (main.go).

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

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
