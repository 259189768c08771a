package lightcycles

import (
	"couchplay/emu"
	"crypto/sha256"
	"math/rand/v2"
	"slices"
	"testing"
)

func TestTurn(t *testing.T) {
	all := []Dir{DirUp, DirDown, DirLeft, DirRight}
	for _, cur := range all {
		for _, want := range all {
			got := Turn(cur, want)
			if want == cur.Opposite() {
				if got != cur {
					t.Errorf("Turn(%v,%v) = %v: reversed into its own trail", cur, want, got)
				}
			} else if got != want {
				t.Errorf("Turn(%v,%v) = %v, want %v", cur, want, got, want)
			}
		}
		if Turn(cur, DirNone) != cur {
			t.Errorf("Turn(%v, none) changed heading", cur)
		}
		if cur.Opposite().Opposite() != cur || cur.Opposite() == cur {
			t.Errorf("Opposite(%v) broken", cur)
		}
		dx, dy := cur.Delta()
		ox, oy := cur.Opposite().Delta()
		if dx+ox != 0 || dy+oy != 0 || dx*dx+dy*dy != 1 {
			t.Errorf("Delta(%v) = %d,%d", cur, dx, dy)
		}
	}
}

// runningGame returns a w*h game with the given ports joined, past the countdown.
func runningGame(t *testing.T, w, h int, ports ...int) *Cycles {
	t.Helper()
	g := NewCycles(w, h)
	for _, p := range ports {
		g.Join(p)
	}
	g.Phase = PhaseRunning
	return g
}

// place puts port's head at x, y heading d (its old head cell keeps its trail).
func place(g *Cycles, port, x, y int, d Dir) {
	c := &g.Players[port]
	c.X, c.Y, c.Dir, c.nTurns = x, y, d, 0
	g.set(x, y, uint8(port+1))
}

func TestSteerCannotReverse(t *testing.T) {
	g := runningGame(t, 32, 32, 0)
	place(g, 0, 10, 10, DirRight)
	if g.Steer(0, DirLeft) {
		t.Error("reverse accepted")
	}
	if g.Steer(0, DirRight) {
		t.Error("same heading accepted as a turn")
	}
	ev := g.Step()
	if ev.Crashed[0] || g.Players[0].X != 11 || g.Players[0].Dir != DirRight {
		t.Fatalf("after reverse attempt: %+v, events %+v", g.Players[0], ev)
	}
	// Two quick turns within one step: both count, one per step; a third is dropped
	// and a turn back onto the queued heading's reverse is refused.
	if !g.Steer(0, DirUp) || g.Steer(0, DirDown) || !g.Steer(0, DirLeft) || g.Steer(0, DirDown) {
		t.Fatal("turn queue did not behave")
	}
	g.Step()
	if c := g.Players[0]; c.X != 11 || c.Y != 9 || c.Dir != DirUp {
		t.Fatalf("first queued turn: %+v", c)
	}
	g.Step()
	if c := g.Players[0]; c.X != 10 || c.Y != 9 || c.Dir != DirLeft {
		t.Fatalf("second queued turn: %+v", c)
	}
}

func TestCrashIntoWall(t *testing.T) {
	g := runningGame(t, 40, 30, 0)
	x0, y0, d := g.StartPosition(0)
	if d != DirRight || g.Cell(x0, y0) != 1 {
		t.Fatalf("start %d,%d %v cell %d", x0, y0, d, g.Cell(x0, y0))
	}
	wantSteps := (g.W - 1) - x0 // the border wall is at x = W-1
	for i := 1; i < wantSteps; i++ {
		if ev := g.Step(); ev.Crashed[0] {
			t.Fatalf("crashed early at step %d", i)
		}
	}
	ev := g.Step()
	if !ev.Crashed[0] || g.Players[0].Alive {
		t.Fatalf("did not crash into the wall: %+v", g.Players[0])
	}
	if !ev.Lost || ev.Won != 0 || g.Players[0].Score != 0 || g.Phase != PhaseRoundOver {
		t.Fatalf("solo crash: events %+v score %d phase %v", ev, g.Players[0].Score, g.Phase)
	}
	if g.Players[0].X != g.W-2 {
		t.Errorf("head at x=%d, want %d (stops before the wall)", g.Players[0].X, g.W-2)
	}
}

func TestCrashIntoOwnTrail(t *testing.T) {
	g := runningGame(t, 32, 32, 0)
	place(g, 0, 10, 10, DirRight)
	for _, d := range []Dir{DirUp, DirLeft, DirDown} {
		g.Steer(0, d)
		if ev := g.Step(); ev.Crashed[0] {
			t.Fatalf("crashed turning %v", d)
		}
	}
	g.Steer(0, DirRight) // back into (10,10), where it started
	if ev := g.Step(); !ev.Crashed[0] {
		t.Fatalf("drove through its own trail: %+v", g.Players[0])
	}
}

func TestCrashIntoOtherTrailAndScore(t *testing.T) {
	g := runningGame(t, 32, 32, 0, 1)
	// P2 goes down column 10 and crosses row 10 at step 5; P1 reaches column 10
	// along row 10 at step 6, into P2's trail.
	place(g, 0, 4, 10, DirRight)
	place(g, 1, 10, 5, DirDown)
	var ev Events
	for i := 1; i <= 6 && g.Phase == PhaseRunning; i++ {
		ev = g.Step()
		if i < 6 && (ev.Crashed[0] || ev.Crashed[1]) {
			t.Fatalf("early crash at step %d: %+v", i, ev)
		}
	}
	if !ev.Crashed[0] || ev.Crashed[1] {
		t.Fatalf("want P1 into P2's trail: %+v", ev)
	}
	if ev.Won != 2 || g.Winner != 2 || g.Players[1].Score != 1 || g.Players[0].Score != 0 || g.Phase != PhaseRoundOver {
		t.Fatalf("P2 should score: %+v winner %d scores %d/%d", ev, g.Winner, g.Players[0].Score, g.Players[1].Score)
	}
	// The result shows, then a new round starts with both riders back at their
	// start positions on a clean field, scores kept.
	for range roundOverFrames {
		g.Update([emu.Ports]emu.Buttons{})
	}
	if g.Phase != PhaseCountdown || !g.Players[0].Alive || !g.Players[1].Alive || g.Players[1].Score != 1 {
		t.Fatalf("no new round: phase %v %+v", g.Phase, g.Players)
	}
	for p := range 2 {
		x, y, d := g.StartPosition(p)
		if c := g.Players[p]; c.X != x || c.Y != y || c.Dir != d {
			t.Errorf("P%d at %d,%d %v, want %d,%d %v", p+1, c.X, c.Y, c.Dir, x, y, d)
		}
	}
	if g.Cell(10, 8) != cellEmpty {
		t.Error("old trail left on the field")
	}
}

func TestHeadOnIsDraw(t *testing.T) {
	g := runningGame(t, 32, 32, 0, 1)
	place(g, 0, 8, 10, DirRight)
	place(g, 1, 12, 10, DirLeft)
	g.Step()       // 9 and 11
	ev := g.Step() // both into 10
	if !ev.Crashed[0] || !ev.Crashed[1] || !ev.Lost || ev.Won != 0 {
		t.Fatalf("head-on: %+v", ev)
	}
	if g.Players[0].Score != 0 || g.Players[1].Score != 0 {
		t.Error("a draw scored")
	}
}

func TestLastAliveOfFour(t *testing.T) {
	g := runningGame(t, 40, 40, 0, 1, 2, 3)
	place(g, 0, 1, 5, DirLeft)    // into the wall next step
	place(g, 1, 38, 20, DirRight) // into the wall next step
	place(g, 2, 10, 10, DirDown)
	place(g, 3, 20, 38, DirDown) // into the wall next step... after P1/P2
	ev := g.Step()
	if !ev.Crashed[0] || !ev.Crashed[1] || !ev.Crashed[3] || ev.Crashed[2] {
		t.Fatalf("crashes %+v", ev.Crashed)
	}
	if ev.Won != 3 || g.Players[2].Score != 1 {
		t.Fatalf("P3 should win: %+v", ev)
	}

	// With three riders the round goes on while two are alive.
	g = runningGame(t, 40, 40, 0, 1, 2)
	place(g, 0, 1, 5, DirLeft)
	place(g, 1, 20, 20, DirRight)
	place(g, 2, 10, 10, DirDown)
	ev = g.Step()
	if !ev.Crashed[0] || g.Phase != PhaseRunning || ev.Won != 0 {
		t.Fatalf("round ended with two alive: %+v phase %v", ev, g.Phase)
	}
}

func TestSoloWinsBySurviving(t *testing.T) {
	g := runningGame(t, soloWinSteps+200, 12, 0)
	for i := 1; i < soloWinSteps; i++ {
		if ev := g.Step(); ev.Crashed[0] || ev.Won != 0 {
			t.Fatalf("step %d: %+v", i, ev)
		}
	}
	if ev := g.Step(); ev.Won != 1 || g.Players[0].Score != 1 {
		t.Fatalf("solo survival did not score: %+v", ev)
	}
}

func TestJoinCountdownAndStart(t *testing.T) {
	g := NewCycles(gridW, gridH)
	var in [emu.Ports]emu.Buttons
	if g.Update(in); g.Phase != PhaseLobby {
		t.Fatal("not in the lobby")
	}
	in[2] = emu.ButtonB // port 2 (P3) presses any button
	ev := g.Update(in)
	if !ev.Joined[2] || !g.Players[2].Joined || g.Phase != PhaseCountdown {
		t.Fatalf("join: %+v phase %v", ev, g.Phase)
	}
	ticks, frames := 1, 1 // the join frame ticked
	if !ev.Tick {
		t.Error("no tick at countdown start")
	}
	for g.Phase == PhaseCountdown {
		ev = g.Update(in)
		frames++
		if ev.Tick {
			ticks++
		}
		if frames > 1000 {
			t.Fatal("countdown never ended")
		}
	}
	if !ev.Go || ticks != 3 || frames != countdownFrames {
		t.Fatalf("countdown: go=%v ticks=%d frames=%d", ev.Go, ticks, frames)
	}
	// Running: one cell every stepFrames frames.
	x0, y0 := g.Players[2].X, g.Players[2].Y
	for range 10 * stepFrames {
		g.Update(in)
	}
	if c := g.Players[2]; c.X != x0 || c.Y != y0+10 {
		t.Fatalf("after %d frames at %d,%d from %d,%d heading %v", 10*stepFrames, c.X, c.Y, x0, y0, c.Dir)
	}

	// A second port joining mid-round waits for the next round.
	in[0] = emu.ButtonA
	if ev = g.Update(in); !ev.Joined[0] || g.Players[0].InRound || g.Phase != PhaseRunning {
		t.Fatalf("mid-round join: %+v %+v", ev, g.Players[0])
	}

	// Start restarts: scores reset, a fresh countdown with both riders.
	g.Players[2].Score = 5
	in[2] = emu.ButtonB | emu.ButtonStart
	ev = g.Update(in)
	if !ev.Restart || g.Players[2].Score != 0 || g.Phase != PhaseCountdown || !g.Players[0].InRound || !g.Players[2].InRound {
		t.Fatalf("restart: %+v phase %v %+v", ev, g.Phase, g.Players)
	}
	// Held buttons do not repeat: no second restart while Start stays down.
	g.Players[2].Score = 1
	if ev = g.Update(in); ev.Restart || g.Players[2].Score != 1 {
		t.Fatal("held Start restarted again")
	}
}

// script is a reproducible input sequence: riders mash the D-pad.
func script(seed uint64, frames int) [][emu.Ports]emu.Buttons {
	r := rand.New(rand.NewPCG(seed, 1))
	out := make([][emu.Ports]emu.Buttons, frames)
	var cur [emu.Ports]emu.Buttons
	pad := []emu.Buttons{emu.ButtonUp, emu.ButtonDown, emu.ButtonLeft, emu.ButtonRight, emu.ButtonA, 0}
	for f := range out {
		for p := range emu.Ports {
			if r.IntN(12) == 0 {
				cur[p] = pad[r.IntN(len(pad))]
			}
		}
		out[f] = cur
	}
	return out
}

// playHash runs the built-in game through in and hashes every frame and its audio.
func playHash(in [][emu.Ports]emu.Buttons) (sum [32]byte, crashes, loud int) {
	core := New()
	h := sha256.New()
	abuf := make([]byte, 3200)
	for _, frame := range in {
		for p, b := range frame {
			core.SetInput(p, b)
		}
		core.RunFrame()
		h.Write(core.Frame().Pix)
		a := core.Audio()
		if len(a) != 1600 {
			panic("audio length")
		}
		for i, s := range a {
			abuf[2*i], abuf[2*i+1] = byte(s), byte(s>>8)
			if s > 3000 || s < -3000 {
				loud++
			}
		}
		h.Write(abuf)
		for _, c := range core.(*builtinGame).rules.Players {
			if c.InRound && !c.Alive {
				crashes++
			}
		}
	}
	copy(sum[:], h.Sum(nil))
	return sum, crashes, loud
}

func TestBuiltinGameDeterministic(t *testing.T) {
	in := script(7, 1500)
	a, crashes, loud := playHash(in)
	b, _, _ := playHash(in)
	if a != b {
		t.Fatal("same inputs gave different frames or sound")
	}
	if crashes == 0 || loud == 0 {
		t.Fatalf("script did not exercise the game: crashes %d, loud samples %d", crashes, loud)
	}
	if c, _, _ := playHash(script(8, 1500)); c == a {
		t.Fatal("different inputs gave identical output: the hash sees nothing")
	}
}

func TestBuiltinGameCore(t *testing.T) {
	core := New()
	info := core.Info()
	if info.Name != "Light Cycles" || info.Width != 256 || info.Height != 240 || info.FPS != 60 || info.SampleRate != 48000 {
		t.Fatalf("info %+v", info)
	}
	g := core.(*builtinGame)
	core.RunFrame()
	if !silent(core.Audio()) {
		t.Error("lobby is not silent")
	}
	// P2 joins: a join sound in that very frame, and its cycle drawn in red.
	core.SetInput(1, emu.ButtonA)
	core.RunFrame()
	if silent(core.Audio()) {
		t.Error("no sound on join")
	}
	c := g.rules.Players[1]
	px := core.Frame().RGBAAt(c.X*cellPx, barHeight+c.Y*cellPx)
	if px.R != 255 || px.G != 255 || px.B != 255 {
		t.Errorf("head pixel %v, want white", px)
	}
	// The score bar's "P2" is drawn in P2's colour once joined.
	found := false
	for y := range barHeight {
		for x := 64; x < 128; x++ {
			if p := core.Frame().RGBAAt(x, y); p.R == riderColours[1][0] && p.G == riderColours[1][1] && p.B == riderColours[1][2] {
				found = true
			}
		}
	}
	if !found {
		t.Error("P2's score not drawn in its colour")
	}
}

func TestBuiltinGameAllocFree(t *testing.T) {
	core := New()
	in := script(3, 400)
	i := 0
	allocs := testing.AllocsPerRun(300, func() {
		for p, b := range in[i%len(in)] {
			core.SetInput(p, b)
		}
		core.RunFrame()
		i++
	})
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

func BenchmarkBuiltinGameFrame(b *testing.B) {
	core := New()
	in := script(5, 4000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for p, btn := range in[i%len(in)] {
			core.SetInput(p, btn)
		}
		core.RunFrame()
		i++
	}
}

// silent reports whether every sample is zero.
func silent(a []int16) bool {
	return !slices.ContainsFunc(a, func(s int16) bool { return s != 0 })
}
