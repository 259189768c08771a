// Command couchplay turns this computer into a game console for the phones and
// browsers around it. main only parses flags and wires the parts together.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"image"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"couchplay/app"
	"couchplay/assets"
	"couchplay/emu"
	"couchplay/emu/libretro"
	"couchplay/internal/settings"
	"couchplay/room"
	sig "couchplay/signal"
	"couchplay/stream"
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

// startGame makes the console run what --rom names: a built-in, or a ROM with
// the core --core names or the one its extension picks.
func startGame(c config, console *emu.Console, finder *libretro.Finder) error {
	if _, builtin, err := emu.OpenBuiltin(c.rom); builtin {
		if err != nil {
			return err
		}
		game := emu.GameBuiltin
		if c.rom == emu.BuiltinTestCard {
			game = emu.GameTestCard
		}
		return console.Start(game)
	}
	if _, err := os.Stat(c.rom); err != nil {
		return fmt.Errorf("cannot open ROM %s: %w", c.rom, err)
	}
	ci, err := finder.ForROM(c.rom, c.core)
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", c.rom, err)
	}
	return console.Start(libretro.GameFor(c.rom, ci))
}

// openLibretro is the console's opener for ROMs: each runs in its own child process.
func openLibretro(c config, log *slog.Logger) emu.Opener {
	return func(g emu.Game, crashed func(error)) (emu.Core, error) {
		p, err := libretro.Open(libretro.Options{Core: g.CorePath, ROM: g.ROM, DataDir: c.dataDir,
			CoreOptions: libretro.DefaultCoreOptions, Logger: log, Crashed: crashed})
		if err != nil {
			return nil, err // it names the game and the core
		}
		return p, nil
	}
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

	var listenIP net.IP
	if host, _, err := net.SplitHostPort(c.listen); err == nil && host != "" {
		listenIP = net.ParseIP(host)
	}
	hub, err := stream.NewHub(stream.Settings{ListenIP: listenIP, Logger: log})
	if err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: cannot set up WebRTC: %v\n", err)
		return 1
	}
	rm := room.New(c.maxSpectators)
	if c.access == "code" {
		rm.SetAccess(room.NewAccess())
	}
	finder := libretro.NewFinder(c.coresDirs, log)
	preview := &emu.Preview{} // the window's live view; copies only while shown
	sink := func(frame *image.RGBA, audio []int16, info emu.Info) {
		hub.WriteFrame(frame, audio, info)
		preview.Store(frame)
	}
	loop := emu.NewLoop(emu.NewBuiltinGame(), rm, sink, emu.RealClock{})
	console := emu.NewConsole(emu.ConsoleConfig{Loop: loop, Logger: log, Open: openLibretro(c, log),
		Games: func() []emu.Game { return finder.Library(c.romDirs) }}, emu.GameBuiltin)
	// A new game starts every viewer on a keyframe, even at the same size.
	console.OnChange(func(emu.GameStatus) { hub.RequestKeyframe() })
	if err := startGame(c, console, finder); err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: %v\n", err)
		loop.Core().Close()
		return 1
	}
	srv := sig.New(sig.Config{
		Listen: c.listen, NextPorts: nextPorts(c), Version: version, MaxSpectators: c.maxSpectators, TrustedOrigins: c.trustedOrigins,
		MDNS: !c.noMDNS, Client: assets.Files, Game: loop.Info(), Console: console, Logger: log, Stderr: os.Stderr,
		HTTPSDir: httpsDir(c),
	}, hub, rm)
	if err := srv.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "couchplay: %v\n", err)
		loop.Core().Close()
		return 1
	}
	loop.Start()
	st := console.Status()
	log.Info("game running", "game", st.Game.Name, "core", st.Game.Core, "size", fmt.Sprintf("%dx%d", st.Info.Width, st.Info.Height), "fps", st.Info.FPS)

	restart := newRestartRequest()
	if c.headless {
		go hostCommands(os.Stdin, srv, restart.ask, log)
		select {
		case <-ctx.Done():
		case <-restart.asked:
		}
	} else {
		if err := app.Run(ctx, windowHost{srv: srv, console: console, hub: hub, preview: preview, settings: store,
			restart: restart.ask}); err != nil {
			log.Error("window failed", "err", err)
		}
	}

	log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	srv.Shutdown(shutdownCtx)
	loop.Shutdown()
	hub.Shutdown()
	if err := loop.Core().Close(); err != nil { // flushes the battery RAM
		log.Error("closing the game", "err", err)
	}
	if restart.wanted() && ctx.Err() == nil { // a SIGTERM meanwhile wins: stop
		return restartSelf(log)
	}
	return 0
}

// restartRequest is the window's "Restart now" (or the headless "restart"
// command): the host shuts down as for SIGTERM, then runs again.
type restartRequest struct {
	asked chan struct{} // closed once asked
	once  sync.Once
}

func newRestartRequest() *restartRequest { return &restartRequest{asked: make(chan struct{})} }

func (r *restartRequest) ask() { r.once.Do(func() { close(r.asked) }) }

func (r *restartRequest) wanted() bool {
	select {
	case <-r.asked:
		return true
	default:
		return false
	}
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

// windowHost adapts the host core to what the window shows.
type windowHost struct {
	settings *settings.Store
	restart  func()
	srv      *sig.Server
	hub      *stream.Hub
	console  *emu.Console
	preview  *emu.Preview
}

func (h windowHost) Console() *emu.Console     { return h.console }
func (h windowHost) Settings() *settings.Store { return h.settings }
func (h windowHost) Restart()                  { h.restart() }
func (h windowHost) Preview() *emu.Preview     { return h.preview }

// URLs are the join URLs (the QR code takes the first), then the
// couchplay.local name while it is answered (phones that resolve .local).
func (h windowHost) URLs() []string {
	urls := h.srv.JoinURLs()
	if local := h.srv.LocalURL(); local != "" {
		urls = append(slices.Clip(urls), local) // JoinURLs may be the server's own slice
	}
	return urls
}

func (h windowHost) Kick(slot int) error            { return h.srv.Kick(slot) }
func (h windowHost) MoveToSpectator(slot int) error { return h.srv.MoveToSpectator(slot) }

func (h windowHost) Status() app.Status {
	players, spectators := h.srv.Room().Roster()
	return app.Status{Game: h.console.Status().Game.Name, Players: players, Reserved: h.srv.Room().Reserved(),
		Spectators: spectators, Peers: h.hub.Connected(), RoomCode: h.srv.RoomCode(), Notice: h.srv.PortNotice(),
		Fingerprint: h.srv.Fingerprint(), AccessNotice: h.srv.AccessNotice()}
}

// hostCommandsHelp lists the headless host's console commands.
const hostCommandsHelp = "commands: kick N, spectate N, restart"

// hostCommands reads the headless host's console: one command a line on
// stdin, "kick N" (remove player N; its page says so), "spectate N" (make
// player N a spectator) or "restart" (start again, reading the settings
// file anew) — what the window's buttons do. EOF (stdin is /dev/null under
// a service manager) ends it.
func hostCommands(in io.Reader, srv *sig.Server, restart func(), log *slog.Logger) {
	sc := bufio.NewScanner(in)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 {
			continue
		}
		if len(fields) == 1 && fields[0] == "restart" {
			log.Info("host command done", "command", "restart")
			restart()
			return
		}
		var slot int
		var err error
		if len(fields) == 2 {
			slot, err = strconv.Atoi(fields[1])
		}
		switch {
		case len(fields) != 2 || err != nil:
			err = fmt.Errorf("unknown command %q (%s)", sc.Text(), hostCommandsHelp)
		case fields[0] == "kick":
			err = srv.Kick(slot)
		case fields[0] == "spectate":
			err = srv.MoveToSpectator(slot)
		default:
			err = fmt.Errorf("unknown command %q (%s)", sc.Text(), hostCommandsHelp)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "couchplay: %v\n", err)
			continue
		}
		log.Info("host command done", "command", sc.Text())
	}
}
