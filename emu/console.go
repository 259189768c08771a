package emu

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"
)

// Game is one entry of the game library.
type Game struct {
	ID     string `json:"id"`     // stable key: a built-in name, or the ROM's path
	Name   string `json:"name"`   // shown to people
	System string `json:"system"` // e.g. "Nintendo - NES", "built-in"
	Core   string `json:"core"`   // the core's display name, empty when none matches
	// Problem says why the game cannot start (e.g. "no core found: install
	// libretro-nestopia"); empty when it can.
	Problem string `json:"problem,omitempty"`

	ROM      string `json:"-"` // ROM file; empty for built-ins
	CorePath string `json:"-"` // the libretro core that runs it
	// SaveName names the game's battery save and states (saves/<SaveName>.srm,
	// states/<SaveName>.stateN), unique per ROM. Empty: settled when it opens.
	SaveName string `json:"-"`
	// Detail is Problem for the host's own eyes (the window, the log): it may
	// name host paths, which pages are never sent.
	Detail string `json:"-"`
	// CoreWhy says why Core was chosen when several cores take the ROM.
	CoreWhy string `json:"-"`
	// Hint is added to a failure or a crash of the game: what may be missing
	// (e.g. a BIOS file the core lists). No host paths: pages see it.
	Hint string `json:"-"`
}

// Built-in library entries: always there, so a fresh install has something to play.
var (
	LightCyclesGame = Game{ID: LightCyclesID, Name: "Light Cycles", System: "built-in", Core: "couchplay"}
	TestCardGame    = Game{ID: TestCardID, Name: "Test Card", System: "built-in", Core: "couchplay"}
)

// builtinGames lists the built-in entries, first in the library.
func builtinGames() []Game { return []Game{LightCyclesGame, TestCardGame} }

// Controls are what a running core may offer beyond Core: the console's
// reset and save-state commands use them when the core has them.
type Controls interface {
	Reset() error
	SaveState(slot int) error
	LoadState(slot int) error
}

// Game states in a GameStatus.
const (
	StateRunning = "running"
	StateCrashed = "crashed"
)

// GameStatus is what runs now, for pages and the window.
type GameStatus struct {
	Game    Game   `json:"game"`
	Info    Info   `json:"info"`
	State   string `json:"state"`             // StateRunning or StateCrashed
	Message string `json:"message,omitempty"` // for a crash: "the game crashed: …"
}

// Opener opens a library entry that is not built in. crashed is to be called
// (from any goroutine, at most once) when the core dies while running; the
// core then keeps answering the loop with a still picture.
type Opener func(g Game, crashed func(err error)) (Core, error)

// ConsoleConfig configures a Console.
type ConsoleConfig struct {
	Loop *Loop
	Open Opener // nil: only built-ins can be played
	// Builtins are the cores that need no ROM (Light Cycles, the test card);
	// nil: the test card only.
	Builtins Builtins
	// Games scans the library (ROM folders): the console keeps what it
	// found, and scans again only when asked for the library after
	// RescanEvery (default DefaultRescanEvery), or on Rescan.
	Games       func() []Game
	RescanEvery time.Duration
	Now         func() time.Time // tests; default time.Now
	Logger      *slog.Logger
}

// DefaultRescanEvery is how old the library may get before a request for it
// scans the ROM folders again: a page, a play of an unknown id or a flood of
// requests cost at most one scan in that time.
const DefaultRescanEvery = 3 * time.Second

// Console is the host's game API: the library, and start/stop/reset/save/load
// of the game the loop runs. Pages (through signal/) and the window use it;
// every method is safe for concurrent use.
type Console struct {
	cfg ConsoleConfig
	log *slog.Logger

	ops sync.Mutex // one start/stop/reset/state command at a time

	lib       sync.Mutex // held while scanning: one scan at a time, the others wait for it
	found     []Game     // the last scan, sorted by name
	scannedAt time.Time
	scanned   bool

	mu         sync.Mutex
	status     GameStatus
	generation int // bumped by every start, so a late crash report of an old core is ignored
	listeners  []func(GameStatus)
}

// ErrNoSuchGame means an id that the library does not list.
var ErrNoSuchGame = errors.New("no such game in the library")

// NewConsole returns a console whose loop runs the game described by current.
func NewConsole(cfg ConsoleConfig, current Game) *Console {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Builtins == nil {
		cfg.Builtins = Builtins{TestCardID: NewTestCard}
	}
	if cfg.RescanEvery <= 0 {
		cfg.RescanEvery = DefaultRescanEvery
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Console{cfg: cfg, log: cfg.Logger}
	c.status = GameStatus{Game: current, Info: cfg.Loop.Info(), State: StateRunning}
	return c
}

// Games lists the library: the built-ins first, then the ROMs found, by name.
// It is the last scan's list while that is younger than RescanEvery.
func (c *Console) Games() []Game {
	return c.games(false)
}

// Rescan scans the ROM folders now (the host asked: a file was added) and
// returns the library.
func (c *Console) Rescan() []Game {
	return c.games(true)
}

func (c *Console) games(force bool) []Game {
	games := builtinGames()
	if c.cfg.Games == nil {
		return games
	}
	c.lib.Lock()
	defer c.lib.Unlock()
	if force || !c.scanned || c.cfg.Now().Sub(c.scannedAt) >= c.cfg.RescanEvery {
		found := c.cfg.Games()
		sort.SliceStable(found, func(i, j int) bool { return found[i].Name < found[j].Name })
		c.found, c.scannedAt, c.scanned = found, c.cfg.Now(), true
	}
	return append(games, c.found...)
}

// Status is what runs now.
func (c *Console) Status() GameStatus {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// OnChange registers fn to be called after every change of Status (a new
// game, a crash). fn runs on the goroutine that made the change and must not
// call back into the console's commands.
func (c *Console) OnChange(fn func(GameStatus)) {
	c.mu.Lock()
	c.listeners = append(c.listeners, fn)
	c.mu.Unlock()
}

func (c *Console) setStatus(s GameStatus) {
	c.mu.Lock()
	c.status = s
	listeners := append([]func(GameStatus){}, c.listeners...)
	c.mu.Unlock()
	for _, fn := range listeners {
		fn(s)
	}
}

// find looks id up in the library, or is the game that runs (a --rom game
// need not be in the library, and can still be restarted).
func (c *Console) find(id string) (Game, error) {
	if cur := c.Status().Game; cur.ID == id {
		return cur, nil
	}
	for _, g := range c.Games() {
		if g.ID == id {
			return g, nil
		}
	}
	return Game{}, fmt.Errorf("%w: %q", ErrNoSuchGame, id)
}

// Play starts the library entry id in place of what runs (also to restart a
// game that crashed). On failure the running game goes on and the error says
// why, in words for the page.
func (c *Console) Play(id string) error {
	g, err := c.find(id)
	if err != nil {
		return err
	}
	return c.Start(g)
}

// Start runs g (from the library or not, e.g. --rom) in place of what runs.
func (c *Console) Start(g Game) error {
	c.ops.Lock()
	defer c.ops.Unlock()
	if g.Problem != "" {
		return fmt.Errorf("cannot start %s: %s", g.Name, g.Problem)
	}
	c.mu.Lock()
	c.generation++
	gen := c.generation
	c.mu.Unlock()
	core, err := c.open(g, gen)
	if err != nil && g.Hint != "" {
		err = fmt.Errorf("%w (%s)", err, g.Hint)
	}
	if err != nil {
		if gen > 1 { // a start-up failure is main's one line
			c.log.Warn("game did not start", "game", g.Name, "err", err)
		}
		return err
	}
	c.cfg.Loop.SetCore(core)
	info := core.Info()
	if gen > 1 { // the first start is logged by main once it serves, after any start-up error
		c.log.Info("game started", "game", g.Name, "core", g.Core, "size", fmt.Sprintf("%dx%d", info.Width, info.Height), "fps", info.FPS)
	}
	c.setStatus(GameStatus{Game: g, Info: info, State: StateRunning})
	return nil
}

func (c *Console) open(g Game, gen int) (Core, error) {
	if core, builtin, err := c.cfg.Builtins.Open(g.ID); builtin {
		return core, err
	}
	if c.cfg.Open == nil {
		return nil, fmt.Errorf("cannot start %s: this host runs built-in games only", g.Name)
	}
	return c.cfg.Open(g, func(err error) { c.crashed(gen, g, err) })
}

// crashed records that the core of start generation gen died.
func (c *Console) crashed(gen int, g Game, err error) {
	c.mu.Lock()
	current := gen == c.generation
	info := c.status.Info
	c.mu.Unlock()
	if !current {
		return
	}
	msg := "the game crashed: " + err.Error()
	if g.Hint != "" {
		msg += " (" + g.Hint + ")"
	}
	c.log.Error(msg, "game", g.Name)
	c.setStatus(GameStatus{Game: g, Info: info, State: StateCrashed, Message: msg})
}

// Stop ends the running game and goes back to the built-in one.
func (c *Console) Stop() error { return c.Start(LightCyclesGame) }

// Reset restarts the running game from power-on (its battery RAM stays).
func (c *Console) Reset() error {
	return c.control(func(ctl Controls) error { return ctl.Reset() }, func() error {
		return c.Start(c.Status().Game) // a built-in restarts fresh
	})
}

// SaveState saves the running game into numbered slot.
func (c *Console) SaveState(slot int) error {
	return c.control(func(ctl Controls) error { return ctl.SaveState(slot) }, nil)
}

// LoadState loads numbered slot into the running game. A state from another
// game or core, or a corrupt one, is refused and the game goes on.
func (c *Console) LoadState(slot int) error {
	return c.control(func(ctl Controls) error { return ctl.LoadState(slot) }, nil)
}

// control runs fn on the loop goroutine with the core's Controls, or fallback
// when the core has none.
func (c *Console) control(fn func(Controls) error, fallback func() error) error {
	st := c.Status()
	if st.State == StateCrashed {
		return fmt.Errorf("%s has crashed; start it again first", st.Game.Name)
	}
	var err error
	has := true
	c.ops.Lock()
	doErr := c.cfg.Loop.Do(func(core Core) {
		ctl, ok := core.(Controls)
		if !ok {
			has = false
			return
		}
		err = fn(ctl)
	})
	c.ops.Unlock()
	if doErr != nil {
		return doErr
	}
	if !has {
		if fallback != nil {
			return fallback()
		}
		return fmt.Errorf("%s has no save states", st.Game.Name)
	}
	return err
}
