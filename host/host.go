// Package host owns the whole couchplay host: it builds the parts (the media
// hub, the room and its access, the core finder, the frame loop, the game
// console, the window's preview, the signalling server), starts them, and
// stops them in the reverse order. main parses flags and settings and hands
// a Config here; the window (app/) and the headless console both command the
// host through the same methods. Nothing here imports Fyne, so --headless is
// this package without a window.
package host

import (
	"context"
	"errors"
	"fmt"
	"image"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"sync"

	"couchplay/emu"
	"couchplay/emu/libretro"
	"couchplay/emu/lightcycles"
	"couchplay/internal/settings"
	"couchplay/lan"
	"couchplay/room"
	"couchplay/signal"
	"couchplay/stream"
)

// Config is what the host needs from the command line and the settings file.
type Config struct {
	Listen    string // ADDR; port 0: any free port
	NextPorts int    // how many following ports to try when Listen's is busy (a double-click)
	Version   string

	ROM       string   // --rom: a file, emu.TestCardID, or "" for the built-in game
	Core      string   // --core; "" picks one by the ROM's extension
	CoresDirs []string // extra core dirs, searched before the usual ones
	ROMDirs   []string // the game library's folders
	DataDir   string   // saves, states, BIOS files, settings

	AccessCode     bool   // --access code: a room code and a join key
	HTTPSDir       string // where --https keeps its certificate; "" serves plain HTTP
	MDNS           bool
	MaxSpectators  int
	TrustedOrigins []string

	Client   fs.FS           // the web client (assets.Files)
	Settings *settings.Store // the window's Settings dialog edits it
	Logger   *slog.Logger
	Stderr   io.Writer // the verbatim serving/join lines and one-line errors
}

// builtins are the games that need no ROM: Light Cycles and the test card.
var builtins = emu.Builtins{emu.LightCyclesID: lightcycles.New, emu.TestCardID: emu.NewTestCard}

// Host is one running couchplay host.
type Host struct {
	cfg     Config
	log     *slog.Logger
	hub     *stream.Hub
	room    *room.Room
	finder  *libretro.Finder
	preview *emu.Preview
	pauseMu sync.Mutex // updatePause
	loop    *emu.Loop
	console *emu.Console
	srv     *signal.Server
	mdns    *lan.Advertiser // nil without Config.MDNS

	restartOnce sync.Once
	restart     chan struct{} // closed when a restart is asked for
	shutdown    sync.Once
	shutdownErr error
}

// New builds the host and starts the game Config.ROM names (nothing is served
// yet). An error is one line for the user: a ROM that is missing, a core that
// cannot load it, WebRTC that cannot be set up.
func New(cfg Config) (*Host, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	h := &Host{cfg: cfg, log: cfg.Logger, restart: make(chan struct{}), preview: &emu.Preview{}}
	var listenIP net.IP
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && host != "" {
		listenIP = net.ParseIP(host)
	}
	hub, err := stream.NewHub(stream.Settings{ListenIP: listenIP, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("cannot set up WebRTC: %w", err)
	}
	h.hub = hub
	h.room = room.New(cfg.MaxSpectators)
	if cfg.AccessCode {
		h.room.SetAccess(room.NewAccess())
	}
	h.finder = libretro.NewFinder(cfg.CoresDirs, cfg.Logger)
	sink := func(frame *image.RGBA, audio []int16, info emu.Info) {
		hub.WriteFrame(frame, audio, info)
		h.preview.Store(frame) // the window's live view; copies only while shown
	}
	h.loop = emu.NewLoop(lightcycles.New(), h.room, sink, emu.RealClock{})
	// Nobody watches (no page's media flows, the window does not show the
	// game): the game pauses, its state kept, and the host costs next to no
	// CPU. A viewer resumes it; the hub starts each one on a keyframe.
	h.loop.SetPaused(true)
	hub.OnViewers(func(int) { h.updatePause() })
	h.preview.OnChange(h.updatePause)
	h.console = emu.NewConsole(emu.ConsoleConfig{Loop: h.loop, Logger: cfg.Logger, Open: h.openLibretro, Builtins: builtins,
		Games: func() []emu.Game { return h.finder.Library(cfg.ROMDirs) }}, emu.LightCyclesGame)
	// A new game starts every viewer on a keyframe, even at the same size.
	h.console.OnChange(func(emu.GameStatus) { hub.RequestKeyframe() })
	if err := h.startGame(); err != nil {
		h.loop.Core().Close()
		hub.Shutdown()
		return nil, err
	}
	h.srv = signal.New(signal.Config{
		Listen: cfg.Listen, NextPorts: cfg.NextPorts, Version: cfg.Version, TrustedOrigins: cfg.TrustedOrigins,
		Client: cfg.Client, Console: h.console, Logger: cfg.Logger, OnNewRoomCode: h.announceNewCode,
		HTTPSDir: cfg.HTTPSDir,
	}, hub, h.room)
	return h, nil
}

// updatePause pauses the game while nobody watches, from the current counts
// (callbacks may come in any order: each reads the state as it is now).
func (h *Host) updatePause() {
	h.pauseMu.Lock()
	defer h.pauseMu.Unlock()
	idle := h.hub.Connected() == 0 && !h.preview.Watched()
	if idle != h.loop.Paused() {
		h.loop.SetPaused(idle)
		h.log.Debug("game paused while nobody watches", "paused", idle)
	}
}

// startGame makes the console run what Config.ROM names: a built-in, or a
// ROM with the core Config.Core names or the one its extension picks.
func (h *Host) startGame() error {
	rom := h.cfg.ROM
	if game, builtin, err := builtins.Game(rom); builtin {
		if err != nil {
			return err
		}
		return h.console.Start(game)
	}
	if _, err := os.Stat(rom); err != nil {
		return fmt.Errorf("cannot open ROM %s: %w", rom, err)
	}
	ci, err := h.finder.ForROM(rom, h.cfg.Core)
	if err != nil {
		return fmt.Errorf("cannot run %s: %w", rom, err)
	}
	return h.console.Start(libretro.GameFor(rom, ci))
}

// openLibretro is the console's opener for ROMs: each runs in its own child process.
func (h *Host) openLibretro(g emu.Game, crashed func(error)) (emu.Core, error) {
	p, err := libretro.Open(libretro.Options{Core: g.CorePath, ROM: g.ROM, DataDir: h.cfg.DataDir,
		CoreOptions: libretro.DefaultCoreOptions, Logger: h.log, Crashed: crashed})
	if err != nil {
		return nil, err // it names the game and the core
	}
	return p, nil
}

// Start serves (the serving and join lines come first, on Stderr) and runs
// the frame loop. A busy port is its error; the host is then shut down.
func (h *Host) Start() error {
	if err := h.srv.Start(); err != nil {
		h.loop.Core().Close()
		h.hub.Shutdown()
		return err
	}
	h.announce()
	if h.cfg.MDNS {
		// Advertised once the port is known; a failure is logged, never fatal.
		addr := h.srv.Addr()
		h.mdns = lan.NewAdvertiser(lan.Config{Port: addr.Port, HTTPS: h.srv.Scheme() == "https", ListenIP: addr.IP, Logger: h.log})
		h.mdns.Start()
	}
	h.loop.Start()
	st := h.console.Status()
	h.log.Info("game running", "game", st.Game.Name, "core", st.Game.Core,
		"size", fmt.Sprintf("%dx%d", st.Info.Width, st.Info.Height), "fps", st.Info.FPS)
	return nil
}

// announce prints the startup lines (DESIGN §2), verbatim, for outside tests
// and a headless host's user: where the port moved, the HTTPS certificate's
// fingerprint, one "serving" line per URL (with the room code in code mode),
// then in code mode one "join" line per URL with the key (what the QR code
// encodes).
func (h *Host) announce() {
	out := h.cfg.Stderr
	if n := h.srv.PortNotice(); n != "" {
		fmt.Fprintf(out, "couchplay: %s\n", n)
	}
	if fp := h.srv.Fingerprint(); fp != "" {
		fmt.Fprintf(out, "couchplay: HTTPS certificate SHA-256 fingerprint %s\n", fp)
	}
	suffix := ""
	if code := h.srv.RoomCode(); code != "" {
		suffix = " (room code " + code + ")"
	}
	h.sayPerURL("serving", h.srv.URLs(), suffix)
	if h.room.Access() != nil {
		h.sayPerURL("join", h.srv.JoinURLs(), "")
	}
}

// announceNewCode says, where the serving lines were, that wrong codes made
// a new room code (signal.Config.OnNewRoomCode).
func (h *Host) announceNewCode(code string, wrongCodes int) {
	h.sayPerURL("serving", h.srv.URLs(), fmt.Sprintf(" (new room code %s: someone was guessing the old one, %d wrong codes)", code, wrongCodes))
}

// sayPerURL prints "couchplay: <what> <url><suffix>" on stderr for each of urls.
func (h *Host) sayPerURL(what string, urls []string, suffix string) {
	for _, u := range urls {
		fmt.Fprintf(h.cfg.Stderr, "couchplay: %s %s%s\n", what, u, suffix)
	}
}

// Shutdown stops everything Start started, the reverse of the order it was
// built in: the mDNS advertiser, the server (pages are told, sockets
// closed), the frame loop, the media hub (peers closed), and last the game's
// core, which flushes its battery RAM. It returns the errors; a second call
// returns the same.
func (h *Host) Shutdown(ctx context.Context) error {
	h.shutdown.Do(func() {
		var errs []error
		if h.mdns != nil {
			h.mdns.Shutdown()
		}
		if err := h.srv.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("stopping the server: %w", err))
		}
		h.loop.Shutdown()
		h.hub.Shutdown()
		if err := h.loop.Core().Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing the game: %w", err))
		}
		h.shutdownErr = errors.Join(errs...)
	})
	return h.shutdownErr
}

// Restart asks for the host to stop and run again (the window's "Restart
// now", the console's "restart"); RestartAsked is closed then.
func (h *Host) Restart() { h.restartOnce.Do(func() { close(h.restart) }) }

// RestartAsked is closed once a restart is asked for.
func (h *Host) RestartAsked() <-chan struct{} { return h.restart }

// RestartWanted reports whether a restart was asked for.
func (h *Host) RestartWanted() bool {
	select {
	case <-h.restart:
		return true
	default:
		return false
	}
}

// Server is the signalling server (tests, and what the window reads).
func (h *Host) Server() *signal.Server { return h.srv }
