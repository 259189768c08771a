package signal

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"couchplay/emu"
	"couchplay/emu/lightcycles"
)

// renamed is a test card that calls itself name (an opened library game).
type renamed struct {
	emu.Core
	name string
}

func (r renamed) Info() emu.Info {
	info := r.Core.Info()
	info.Name = r.name
	return info
}

// fakeLibrary is a console library with games that are not built in: "slow"
// starts only once release is closed, "crashy" starts and hands the test its
// crash report function, "broken" has a problem and cannot start.
type fakeLibrary struct {
	release chan struct{}
	opening chan struct{} // gets a value when the slow game starts opening
	mu      sync.Mutex
	crash   func(error)
}

var (
	gameSlow   = emu.Game{ID: "/roms/slow.nes", Name: "Slow Game", System: "Nintendo - NES", Core: "Fake"}
	gameCrashy = emu.Game{ID: "/roms/crashy.nes", Name: "Crashy Game", System: "Nintendo - NES", Core: "Fake"}
	gameBroken = emu.Game{ID: "/roms/broken.sfc", Name: "Broken Game", System: "Nintendo - SNES", Problem: "no core found: install libretro-snes9x"}
)

func newFakeLibrary() *fakeLibrary {
	return &fakeLibrary{release: make(chan struct{}), opening: make(chan struct{}, 1)}
}

func (f *fakeLibrary) config() *emu.ConsoleConfig {
	return &emu.ConsoleConfig{
		Builtins: emu.Builtins{emu.LightCyclesID: lightcycles.New, emu.TestCardID: emu.NewTestCard},
		Games:    func() []emu.Game { return []emu.Game{gameSlow, gameCrashy, gameBroken} },
		Open: func(g emu.Game, crashed func(error)) (emu.Core, error) {
			switch g.ID {
			case gameSlow.ID:
				select {
				case f.opening <- struct{}{}:
				default:
				}
				<-f.release
			case gameCrashy.ID:
				f.mu.Lock()
				f.crash = crashed
				f.mu.Unlock()
			default:
				return nil, errors.New("cannot open " + g.Name)
			}
			return renamed{emu.NewTestCard(), g.Name}, nil
		},
	}
}

// joinWS joins over a bare WebSocket (no WebRTC answer) and returns the welcome.
func joinWS(t *testing.T, ctx context.Context, h *testHost, joinMsg string) (*websocket.Conn, Message) {
	t.Helper()
	c := h.dial(t, ctx)
	t.Cleanup(func() { c.CloseNow() })
	send(t, ctx, c, joinMsg)
	return c, next(t, ctx, c, TypeWelcome)
}

// nextMsg waits for a message of type typ from a pion client.
func (c *client) nextMsg(t *testing.T, ctx context.Context, typ string) Message {
	t.Helper()
	for {
		select {
		case m := <-c.msgs:
			if m.Type == typ {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("player %d: no %s message", c.slot, typ)
		}
	}
}

func TestLibraryGoesToPlayer1OnJoinAndToAnyoneWhoAsks(t *testing.T) {
	h := startHostWith(t, 4, newFakeLibrary().config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, welcome := joinWS(t, ctx, h, `{"type":"join"}`)
	if welcome.Slot != 1 || welcome.Game == nil || welcome.Game.Name != "Light Cycles" || welcome.Game.ID != emu.LightCyclesID ||
		welcome.Game.State != emu.StateRunning || welcome.Game.Width != 256 || welcome.Game.Height != 240 {
		t.Fatalf("welcome: %+v game %+v", welcome, welcome.Game)
	}
	lib := next(t, ctx, p1, TypeLibrary)
	byID := map[string]LibraryGame{}
	for _, g := range lib.Games {
		byID[g.ID] = g
	}
	if len(lib.Games) != 5 || lib.Games[0].ID != emu.LightCyclesID || lib.Games[1].ID != emu.TestCardID {
		t.Fatalf("library: %+v", lib.Games)
	}
	if g := byID[emu.TestCardID]; g.Name != "Test Card" || g.System != "built-in" || g.Core != "couchplay" || g.Problem != "" {
		t.Fatalf("test card entry: %+v", g)
	}
	if g := byID[gameBroken.ID]; g.Name != "Broken Game" || g.Problem != gameBroken.Problem {
		t.Fatalf("broken entry: %+v", g)
	}

	// Player 2 and a spectator get it when they ask.
	for _, joinMsg := range []string{`{"type":"join"}`, `{"type":"join","watch":true}`} {
		c, _ := joinWS(t, ctx, h, joinMsg)
		send(t, ctx, c, `{"type":"library"}`)
		if m := next(t, ctx, c, TypeLibrary); len(m.Games) != 5 {
			t.Fatalf("%s: library %+v", joinMsg, m.Games)
		}
	}
}

func TestGameCommandsAreForPlayer1Only(t *testing.T) {
	h := startHostWith(t, 4, newFakeLibrary().config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	joinWS(t, ctx, h, `{"type":"join"}`)
	p2, w2 := joinWS(t, ctx, h, `{"type":"join"}`)
	spec, _ := joinWS(t, ctx, h, `{"type":"join","watch":true}`)
	if w2.Slot != 2 {
		t.Fatalf("second joiner got slot %d", w2.Slot)
	}
	for _, c := range []*websocket.Conn{p2, spec} {
		for _, cmd := range []string{`{"type":"play","game":"builtin:testcard"}`, `{"type":"stop"}`, `{"type":"reset"}`,
			`{"type":"save_state","stateSlot":1}`, `{"type":"load_state","stateSlot":1}`} {
			send(t, ctx, c, cmd)
			if m := next(t, ctx, c, TypeError); m.Code != CodeNotAllowed || !strings.HasPrefix(m.Text, "only player 1 can ") {
				t.Fatalf("%s: %+v", cmd, m)
			}
		}
	}
	if got := h.console.Status().Game.ID; got != emu.LightCyclesID {
		t.Fatalf("a refused command changed the game to %s", got)
	}
	// Not joined yet: not_joined, as for other messages.
	c := h.dial(t, ctx)
	defer c.CloseNow()
	send(t, ctx, c, `{"type":"play","game":"builtin:testcard"}`)
	if m := next(t, ctx, c, TypeError); m.Code != CodeNotJoined {
		t.Fatalf("play before join: %+v", m)
	}
}

func TestPlayTellsEverySessionTheNewGame(t *testing.T) {
	h := startHostWith(t, 4, newFakeLibrary().config())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p1 := join(t, ctx, h, `{"type":"join"}`)
	defer p1.leave(ctx)
	p2 := join(t, ctx, h, `{"type":"join"}`)
	defer p2.leave(ctx)
	spec, _ := joinWS(t, ctx, h, `{"type":"join","watch":true}`)

	send(t, ctx, p1.conn, `{"type":"play","game":"builtin:testcard"}`)
	check := func(who string, m Message) {
		t.Helper()
		if m.Game == nil || m.Game.Name != "Test Card" || m.Game.ID != emu.TestCardID || m.Game.State != emu.StateRunning || m.Game.Width != 256 {
			t.Fatalf("%s: game message %+v", who, m.Game)
		}
	}
	check("player 1", p1.nextMsg(t, ctx, TypeGame))
	check("player 2", p2.nextMsg(t, ctx, TypeGame))
	check("spectator", next(t, ctx, spec, TypeGame))
	if !eventually(ctx, func() bool { return h.loop.Info().Name == "Test Card" }) {
		t.Fatalf("the loop runs %q", h.loop.Info().Name)
	}
	// A page that joins now is welcomed with it.
	_, w := joinWS(t, ctx, h, `{"type":"join","watch":true}`)
	check("late joiner", w)

	// Player 2's A on the test card is red: the new game gets the room's input.
	dc := <-p2.input
	dc.Send([]byte{0x01, 1, 0x00, 0x01}) // A = bit 8
	if !eventually(ctx, func() bool { return h.srv.Room().Buttons(1) == emu.ButtonA }) {
		t.Fatal("player 2's input did not arrive")
	}

	// Stop goes back to the built-in game, for everyone.
	send(t, ctx, p1.conn, `{"type":"stop"}`)
	if m := p2.nextMsg(t, ctx, TypeGame); m.Game.Name != "Light Cycles" || m.Game.ID != emu.LightCyclesID {
		t.Fatalf("after stop: %+v", m.Game)
	}
	// An unknown id and a game with a problem fail for the sender only, with the console's reason.
	send(t, ctx, p1.conn, `{"type":"play","game":"/nope.nes"}`)
	if m := p1.nextMsg(t, ctx, TypeError); m.Code != CodeGameFailed || !strings.Contains(m.Text, "no such game") {
		t.Fatalf("unknown id: %+v", m)
	}
	send(t, ctx, p1.conn, `{"type":"play","game":"/roms/broken.sfc"}`)
	if m := p1.nextMsg(t, ctx, TypeError); m.Code != CodeGameFailed || !strings.Contains(m.Text, gameBroken.Problem) {
		t.Fatalf("game with a problem: %+v", m)
	}
}

func TestSaveStateOnABuiltinShowsTheConsoleError(t *testing.T) {
	h := startHostWith(t, 4, newFakeLibrary().config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	want := h.console.SaveState(1)
	if want == nil {
		t.Fatal("the built-in game has save states now: this test needs another game")
	}
	send(t, ctx, p1, `{"type":"save_state","stateSlot":1}`)
	if m := next(t, ctx, p1, TypeError); m.Code != CodeGameFailed || m.Text != want.Error() {
		t.Fatalf("save_state: %+v, want game_failed %q", m, want)
	}
	send(t, ctx, p1, `{"type":"load_state","stateSlot":9}`)
	if m := next(t, ctx, p1, TypeError); m.Code != CodeGameFailed || !strings.Contains(m.Text, "has no save states") {
		t.Fatalf("load_state: %+v", m)
	}
	// Reset works on a built-in (it restarts it).
	send(t, ctx, p1, `{"type":"reset"}`)
	if m := next(t, ctx, p1, TypeGame); m.Game.Name != "Light Cycles" {
		t.Fatalf("after reset: %+v", m.Game)
	}
}

func TestBadGameCommandsAreBadMessages(t *testing.T) {
	h := startHostWith(t, 4, newFakeLibrary().config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	for _, bad := range []string{`{"type":"save_state","stateSlot":0}`, `{"type":"save_state","stateSlot":10}`,
		`{"type":"load_state"}`, `{"type":"load_state","stateSlot":"1"}`, `{"type":"save_state","stateSlot":-3}`,
		`{"type":"play"}`, `{"type":"play","game":""}`, `{"type":"play","game":{"id":"builtin:testcard"}}`} {
		send(t, ctx, p1, bad)
		if m := next(t, ctx, p1, TypeError); m.Code != CodeBadMessage {
			t.Fatalf("%s: %+v", bad, m)
		}
	}
}

func TestACommandDoesNotHoldUpOtherMessages(t *testing.T) {
	lib := newFakeLibrary()
	h := startHostWith(t, 4, lib.config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	p2, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	send(t, ctx, p1, `{"type":"play","game":"/roms/slow.nes"}`) // blocks in Open until release
	// While it starts, both sockets are served.
	send(t, ctx, p2, `{"type":"library"}`)
	next(t, ctx, p2, TypeLibrary)
	send(t, ctx, p1, `{"type":"library"}`)
	next(t, ctx, p1, TypeLibrary)
	send(t, ctx, p1, `{"type":"warp"}`)
	next(t, ctx, p1, TypeError)
	close(lib.release)
	for _, c := range []*websocket.Conn{p1, p2} {
		if m := next(t, ctx, c, TypeGame); m.Game.Name != "Slow Game" || m.Game.ID != gameSlow.ID {
			t.Fatalf("slow game: %+v", m.Game)
		}
	}
}

// Shutdown waits for a game command that is running (a core starting): the
// host closes the game only after Shutdown, so a command still at work then
// would start a core nobody closes.
func TestShutdownWaitsForARunningCommand(t *testing.T) {
	lib := newFakeLibrary()
	h := startHostWith(t, 4, lib.config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	send(t, ctx, p1, `{"type":"play","game":"/roms/slow.nes"}`)
	select {
	case <-lib.opening:
	case <-ctx.Done():
		t.Fatal("the slow game never started opening")
	}
	// The page reads on, so its socket closes as soon as the host says so:
	// what Shutdown then waits for is the command.
	go func() {
		for {
			if _, _, err := p1.Read(ctx); err != nil {
				return
			}
		}
	}()
	done := make(chan error, 1)
	go func() { done <- h.srv.Shutdown(ctx) }()
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) while a game command was still running", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(lib.release)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if id := h.console.Status().Game.ID; id != gameSlow.ID {
		t.Errorf("after Shutdown the console runs %q: the command had not finished", id)
	}
}

func TestACrashIsBroadcast(t *testing.T) {
	lib := newFakeLibrary()
	h := startHostWith(t, 4, lib.config())
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, _ := joinWS(t, ctx, h, `{"type":"join"}`)
	spec, _ := joinWS(t, ctx, h, `{"type":"join","watch":true}`)
	send(t, ctx, p1, `{"type":"play","game":"/roms/crashy.nes"}`)
	next(t, ctx, spec, TypeGame)
	next(t, ctx, p1, TypeGame)
	lib.mu.Lock()
	crash := lib.crash
	lib.mu.Unlock()
	crash(errors.New("segfault in the core"))
	for _, c := range []*websocket.Conn{p1, spec} {
		m := next(t, ctx, c, TypeGame)
		if m.Game.State != emu.StateCrashed || m.Game.Message != "the game crashed: segfault in the core" || m.Game.Name != "Crashy Game" {
			t.Fatalf("crash: %+v", m.Game)
		}
	}
	// A command on the crashed game explains itself.
	send(t, ctx, p1, `{"type":"save_state","stateSlot":2}`)
	if m := next(t, ctx, p1, TypeError); m.Code != CodeGameFailed || !strings.Contains(m.Text, "crashed") {
		t.Fatalf("save after crash: %+v", m)
	}
}

func TestWithoutAConsole(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p1, w := joinWS(t, ctx, h, `{"type":"join"}`)
	// The transport alone: a game runs, nothing more is known.
	if w.Game == nil || w.Game.State != emu.StateRunning {
		t.Fatalf("welcome game %+v", w.Game)
	}
	send(t, ctx, p1, `{"type":"library"}`)
	if m := next(t, ctx, p1, TypeError); m.Code != CodeGameFailed {
		t.Fatalf("library without a console: %+v", m)
	}
	send(t, ctx, p1, `{"type":"play","game":"builtin:game"}`)
	if m := next(t, ctx, p1, TypeError); m.Code != CodeGameFailed {
		t.Fatalf("play without a console: %+v", m)
	}
}

// A page that floods library requests gets one reply at once and one more
// for all the rest a second later, not one per request.
func TestLibraryRequestsAreThrottledPerMember(t *testing.T) {
	scans := 0
	var mu sync.Mutex
	cc := newFakeLibrary().config()
	games := cc.Games
	cc.Games = func() []emu.Game { mu.Lock(); scans++; mu.Unlock(); return games() }
	h := startHostWith(t, 4, cc)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	spec, _ := joinWS(t, ctx, h, `{"type":"join","watch":true}`)
	for range 20 {
		send(t, ctx, spec, `{"type":"library"}`)
	}
	send(t, ctx, spec, `{"type":"warp"}`) // answered at once: the replies before it are those not held back
	replies := 0
	for {
		_, data, err := spec.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m Message
		json.Unmarshal(data, &m)
		if m.Type == TypeLibrary {
			replies++
		}
		if m.Type == TypeError {
			break
		}
	}
	if replies != 1 {
		t.Fatalf("20 library requests got %d replies at once, want 1", replies)
	}
	if m := next(t, ctx, spec, TypeLibrary); len(m.Games) != 5 {
		t.Fatalf("the held-back reply: %+v", m.Games)
	}
	mu.Lock()
	defer mu.Unlock()
	if scans > 2 {
		t.Errorf("%d scans of the ROM folders for 20 requests, want at most 2", scans)
	}
}

// waiting is how many keys are in a period.
func (t *throttle) waiting() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.turns)
}

// The throttle sends the first at once, coalesces the rest into one at the
// end of the period, and forgets a key a period after its last send.
func TestThrottle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		th := newThrottle(func(d time.Duration, f func()) { time.AfterFunc(d, f) })
		sent := 0
		for range 10 {
			th.ask("a", time.Second, func() { sent++ })
		}
		if sent != 1 {
			t.Fatalf("%d sent at once, want 1", sent)
		}
		th.ask("b", time.Second, func() {}) // another member is not held back by a
		time.Sleep(time.Second)
		synctest.Wait()
		if sent != 2 {
			t.Fatalf("%d sent after a second, want 2", sent)
		}
		time.Sleep(3 * time.Second)
		synctest.Wait()
		if sent != 2 || th.waiting() != 0 {
			t.Fatalf("%d sent, %d keys kept after the periods ended", sent, th.waiting())
		}
		th.ask("a", time.Second, func() { sent++ })
		if sent != 3 {
			t.Fatal("a new period does not send at once")
		}
		time.Sleep(2 * time.Second)
	})
}
