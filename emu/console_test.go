package emu

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// stubCore is a core with Controls that a test can make crash.
type stubCore struct {
	recordingCore
	resets int
	saved  []int
}

func (s *stubCore) Reset() error             { s.resets++; return nil }
func (s *stubCore) SaveState(slot int) error { s.saved = append(s.saved, slot); return nil }
func (s *stubCore) LoadState(slot int) error { return errors.New("state slot 3 refused: corrupt") }

// testBuiltins stands in for the host's built-ins: Light Cycles lives in
// emu/lightcycles, which imports emu, so a recording core plays its part.
var testBuiltins = Builtins{
	LightCyclesID: func() Core { return newRecordingCore(60) },
	TestCardID:    NewTestCard,
}

func newTestConsole(t *testing.T) (*Console, *Loop, *[]func(error), *[]GameStatus) {
	t.Helper()
	loop := NewLoop(NewTestCard(), nil, nil, nil)
	var crashes []func(error)
	rom := Game{ID: "/roms/quad.nes", Name: "quad", Core: "Stub", ROM: "/roms/quad.nes"}
	broken := Game{ID: "/roms/none.gba", Name: "none", Problem: "no core found: install libretro-mgba"}
	c := NewConsole(ConsoleConfig{
		Loop:     loop,
		Builtins: testBuiltins,
		Logger:   slog.New(slog.DiscardHandler),
		Games:    func() []Game { return []Game{rom, broken} },
		Open: func(g Game, crashed func(error)) (Core, error) {
			crashes = append(crashes, crashed)
			return &stubCore{recordingCore: recordingCore{fps: 60}}, nil
		},
	}, LightCyclesGame)
	var seen []GameStatus
	c.OnChange(func(s GameStatus) { seen = append(seen, s) })
	return c, loop, &crashes, &seen
}

func TestConsolePlaySwitchesAndReports(t *testing.T) {
	c, loop, _, seen := newTestConsole(t)
	if got := c.Games(); len(got) != 4 || got[0].ID != LightCyclesID || got[1].ID != TestCardID {
		t.Fatalf("library = %+v, want the two built-ins first", got)
	}
	if err := c.Play(TestCardID); err != nil {
		t.Fatal(err)
	}
	if c.Status().Game.Name != "Test Card" || len(*seen) != 1 || (*seen)[0].State != StateRunning {
		t.Errorf("after Play: status %+v, seen %+v", c.Status(), *seen)
	}
	if _, ok := loop.Core().(*testCard); !ok {
		t.Errorf("the loop runs %T, want the test card", loop.Core())
	}
	if err := c.Play("nope"); !errors.Is(err, ErrNoSuchGame) {
		t.Errorf("Play(unknown) = %v", err)
	}
	if err := c.Play("/roms/none.gba"); err == nil || !strings.Contains(err.Error(), "libretro-mgba") {
		t.Errorf("Play(game with a problem) = %v", err)
	}
	if c.Status().Game.Name != "Test Card" {
		t.Error("a failed Play changed the running game")
	}
	if err := c.SaveState(1); err == nil || !strings.Contains(err.Error(), "has no save states") {
		t.Errorf("SaveState on a built-in = %v", err)
	}
	if err := c.Stop(); err != nil || c.Status().Game.ID != LightCyclesID {
		t.Errorf("Stop: %v, now %s", err, c.Status().Game.ID)
	}
}

func TestConsoleControlsAndCrash(t *testing.T) {
	c, loop, crashes, seen := newTestConsole(t)
	if err := c.Play("/roms/quad.nes"); err != nil {
		t.Fatal(err)
	}
	stub := loop.Core().(*stubCore)
	if err := c.Reset(); err != nil || stub.resets != 1 {
		t.Errorf("Reset: %v, resets %d", err, stub.resets)
	}
	if err := c.SaveState(2); err != nil || len(stub.saved) != 1 || stub.saved[0] != 2 {
		t.Errorf("SaveState: %v, saved %v", err, stub.saved)
	}
	if err := c.LoadState(3); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("LoadState error not passed on: %v", err)
	}
	// A crash of the running core is reported; one of a replaced core is not.
	(*crashes)[0](errors.New("the core process was killed by SIGSEGV"))
	st := c.Status()
	if st.State != StateCrashed || st.Message != "the game crashed: the core process was killed by SIGSEGV" {
		t.Errorf("after the crash: %+v", st)
	}
	if err := c.Reset(); err == nil {
		t.Error("Reset of a crashed game succeeded")
	}
	if err := c.Play("/roms/quad.nes"); err != nil || c.Status().State != StateRunning {
		t.Fatalf("restart after a crash: %v, %+v", err, c.Status())
	}
	n := len(*seen)
	(*crashes)[0](errors.New("late report of the old core"))
	if len(*seen) != n || c.Status().State != StateRunning {
		t.Error("a crash report of a replaced core changed the status")
	}
}

// The library is scanned at most once per RescanEvery however often it is
// asked for (a page, a play of an unknown id), and at once on Rescan.
func TestConsoleScansTheLibraryAtMostOnceInAWhile(t *testing.T) {
	now := time.Unix(1000, 0)
	scans := 0
	c := NewConsole(ConsoleConfig{
		Loop:   NewLoop(NewTestCard(), nil, nil, nil),
		Logger: slog.New(slog.DiscardHandler),
		Now:    func() time.Time { return now },
		Games: func() []Game {
			scans++
			return []Game{{ID: "rom:1", Name: fmt.Sprint("scan ", scans)}}
		},
	}, LightCyclesGame)
	for range 100 {
		c.Games()
		if err := c.Play("rom:unknown"); !errors.Is(err, ErrNoSuchGame) {
			t.Fatal(err)
		}
	}
	if scans != 1 {
		t.Fatalf("100 requests and 100 plays of an unknown id scanned %d times, want 1", scans)
	}
	now = now.Add(DefaultRescanEvery)
	if g := c.Games(); scans != 2 || g[2].Name != "scan 2" {
		t.Errorf("after %v: %d scans, library %+v", DefaultRescanEvery, scans, g)
	}
	if g := c.Rescan(); scans != 3 || g[2].Name != "scan 3" {
		t.Errorf("Rescan: %d scans, library %+v", scans, g)
	}
}

// A game's hint (a BIOS file its core lists that is missing) is added to
// the reason it failed or crashed.
func TestConsoleAddsTheGamesHint(t *testing.T) {
	var crash func(error)
	fail := true
	c := NewConsole(ConsoleConfig{
		Loop:   NewLoop(NewTestCard(), nil, nil, nil),
		Logger: slog.New(slog.DiscardHandler),
		Games:  func() []Game { return []Game{{ID: "rom:psx", Name: "Disc", Hint: "missing: scph5502.bin"}} },
		Open: func(g Game, crashed func(error)) (Core, error) {
			if fail {
				return nil, errors.New("the core could not load it")
			}
			crash = crashed
			return &stubCore{recordingCore: recordingCore{fps: 60}}, nil
		},
	}, LightCyclesGame)
	if err := c.Play("rom:psx"); err == nil || !strings.Contains(err.Error(), "missing: scph5502.bin") {
		t.Errorf("failed start: %v", err)
	}
	fail = false
	if err := c.Play("rom:psx"); err != nil {
		t.Fatal(err)
	}
	crash(errors.New("the core process was killed by SIGABRT"))
	if st := c.Status(); !strings.Contains(st.Message, "SIGABRT") || !strings.Contains(st.Message, "missing: scph5502.bin") {
		t.Errorf("crash message %q", st.Message)
	}
}
