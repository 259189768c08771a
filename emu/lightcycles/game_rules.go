package lightcycles

import "couchplay/emu"

// Rules of the built-in Light Cycles game, kept free of drawing and sound so they
// can be unit-tested: every port that presses a button gets a cycle; cycles move
// one cell per step and leave a trail; running into a wall, a trail or another
// cycle head-on crashes; the last cycle alive scores. Everything is deterministic
// given the inputs (no randomness at all).

// Dir is a heading on the grid.
type Dir uint8

// Headings; DirNone means "no turn asked".
const (
	DirNone Dir = iota
	DirUp
	DirDown
	DirLeft
	DirRight
)

// Opposite returns the reverse heading.
func (d Dir) Opposite() Dir {
	switch d {
	case DirUp:
		return DirDown
	case DirDown:
		return DirUp
	case DirLeft:
		return DirRight
	case DirRight:
		return DirLeft
	}
	return DirNone
}

// Delta is the cell offset of one step in direction d (y grows downwards).
func (d Dir) Delta() (dx, dy int) {
	switch d {
	case DirUp:
		return 0, -1
	case DirDown:
		return 0, 1
	case DirLeft:
		return -1, 0
	case DirRight:
		return 1, 0
	}
	return 0, 0
}

// Turn returns the heading a cycle going cur takes when its rider asks for want.
// A cycle cannot reverse straight into its own trail, so the opposite heading
// (and DirNone) keeps cur.
func Turn(cur, want Dir) Dir {
	if want == DirNone || want == cur.Opposite() {
		return cur
	}
	return want
}

// dirFromButtons picks the D-pad direction among bits, Up > Down > Left > Right.
func dirFromButtons(b emu.Buttons) Dir {
	switch {
	case b&emu.ButtonUp != 0:
		return DirUp
	case b&emu.ButtonDown != 0:
		return DirDown
	case b&emu.ButtonLeft != 0:
		return DirLeft
	case b&emu.ButtonRight != 0:
		return DirRight
	}
	return DirNone
}

// Phase is where the game is in its round cycle.
type Phase uint8

// Game phases.
const (
	PhaseLobby     Phase = iota // nobody has joined yet
	PhaseCountdown              // cycles placed, 3-2-1 before they move
	PhaseRunning                // cycles move every stepFrames frames
	PhaseRoundOver              // result shown, then a new round starts
)

// Timing of the game, in frames at 60 fps.
const (
	stepFrames      = 2   // one cell every 2 frames: 30 cells/s
	countdownFrames = 90  // 3 beeps, 30 frames apart
	countdownTick   = 30  // frames per countdown digit
	roundOverFrames = 120 // result shown for 2 s
	// soloWinSteps: a lone rider wins the round by surviving this many steps (20 s).
	soloWinSteps = 600
	// turnQueueLen lets two quick presses inside one step (e.g. up then left) both count.
	turnQueueLen = 2
)

// Cell values; 1..Ports is the trail of port value-1.
const (
	cellEmpty uint8 = 0
	cellWall  uint8 = 0xFF
)

// Cycle is one port's rider.
type Cycle struct {
	Joined  bool // pressed a button at some point; plays from the next round
	InRound bool // takes part in the current round
	Alive   bool // still riding in the current round
	X, Y    int  // head cell
	Dir     Dir
	Score   int

	turns  [turnQueueLen]Dir
	nTurns int
}

// Events is what happened during one Update/Step, for sound and display.
type Events struct {
	Joined  [emu.Ports]bool
	Turned  [emu.Ports]bool // a turn was accepted (sounded at once for quick feedback)
	Crashed [emu.Ports]bool
	Won     int  // 1..Ports: that port (minus one) won the round; 0: no winner
	Lost    bool // the round ended with nobody winning (draw, or a solo crash)
	Tick    bool // a countdown beep
	Go      bool // the countdown ended; cycles move
	Restart bool // Start pressed: scores reset
}

// Cycles is the whole game state.
type Cycles struct {
	W, H    int
	Cells   []uint8 // W*H, row-major
	Players [emu.Ports]Cycle
	Phase   Phase
	Timer   int // frames left in the countdown or round-over phase
	Steps   int // steps taken in the current round
	Winner  int // result of the last round: port+1, 0 = nobody

	tick int // frames since the round started running
	prev [emu.Ports]emu.Buttons
}

// NewCycles returns an empty game on a w*h grid (w, h >= 8).
func NewCycles(w, h int) *Cycles {
	g := &Cycles{W: w, H: h, Cells: make([]uint8, w*h)}
	g.clearField()
	return g
}

// Cell returns the content of cell (x, y); outside the grid is wall.
func (g *Cycles) Cell(x, y int) uint8 {
	if x < 0 || y < 0 || x >= g.W || y >= g.H {
		return cellWall
	}
	return g.Cells[y*g.W+x]
}

func (g *Cycles) set(x, y int, v uint8) { g.Cells[y*g.W+x] = v }

// clearField empties the grid and walls its border.
func (g *Cycles) clearField() {
	clear(g.Cells)
	for x := range g.W {
		g.set(x, 0, cellWall)
		g.set(x, g.H-1, cellWall)
	}
	for y := range g.H {
		g.set(0, y, cellWall)
		g.set(g.W-1, y, cellWall)
	}
}

// StartPosition is where port p's cycle starts each round: a pinwheel, one rider
// per side, each heading inwards and offset so no two meet head-on by default.
func (g *Cycles) StartPosition(port int) (x, y int, d Dir) {
	switch port {
	case 0:
		return g.W / 8, g.H / 3, DirRight
	case 1:
		return g.W - 1 - g.W/8, g.H - 1 - g.H/3, DirLeft
	case 2:
		return g.W - 1 - g.W/3, g.H / 8, DirDown
	default:
		return g.W / 3, g.H - 1 - g.H/8, DirUp
	}
}

// Join adds port's rider. It rides at once when no round is under way (lobby or
// countdown; the countdown restarts), else from the next round.
func (g *Cycles) Join(port int) {
	if g.Players[port].Joined {
		return
	}
	g.Players[port].Joined = true
	if g.Phase == PhaseLobby || g.Phase == PhaseCountdown {
		g.NewRound()
	}
}

// Restart zeroes the scores and starts a new round.
func (g *Cycles) Restart() {
	for p := range g.Players {
		g.Players[p].Score = 0
	}
	g.NewRound()
}

// NewRound clears the field, places every joined rider and starts the countdown.
func (g *Cycles) NewRound() {
	g.clearField()
	g.Steps, g.tick, g.Winner = 0, 0, 0
	for p := range g.Players {
		c := &g.Players[p]
		c.InRound, c.Alive, c.nTurns = c.Joined, c.Joined, 0
		if !c.Joined {
			continue
		}
		c.X, c.Y, c.Dir = g.StartPosition(p)
		g.set(c.X, c.Y, uint8(p+1))
	}
	g.Phase, g.Timer = PhaseCountdown, countdownFrames
}

// Steer queues a turn for port's rider; it reports whether the turn was taken
// (a reverse, a repeat of the current heading or a full queue is ignored).
func (g *Cycles) Steer(port int, want Dir) bool {
	c := &g.Players[port]
	if !c.Alive || want == DirNone {
		return false
	}
	last := c.Dir
	if c.nTurns > 0 {
		last = c.turns[c.nTurns-1]
	}
	if want == last || Turn(last, want) == last || c.nTurns == turnQueueLen {
		return false
	}
	c.turns[c.nTurns] = want
	c.nTurns++
	return true
}

// Update advances one frame with the ports' current buttons: joins, Start,
// steering on new presses, and the phase timers (stepping while running).
func (g *Cycles) Update(in [emu.Ports]emu.Buttons) Events {
	var ev Events
	for p := range emu.Ports {
		pressed := in[p] &^ g.prev[p]
		g.prev[p] = in[p]
		if pressed == 0 {
			continue
		}
		if !g.Players[p].Joined {
			g.Join(p)
			ev.Joined[p] = true
		} else if pressed&emu.ButtonStart != 0 {
			g.Restart()
			ev.Restart = true
		}
		if d := dirFromButtons(pressed); d != DirNone && g.Steer(p, d) {
			ev.Turned[p] = true
		}
	}

	switch g.Phase {
	case PhaseCountdown:
		if g.Timer%countdownTick == 0 {
			ev.Tick = true
		}
		g.Timer--
		if g.Timer <= 0 {
			g.Phase = PhaseRunning
			ev.Go = true
		}
	case PhaseRunning:
		if g.tick%stepFrames == 0 {
			g.step(&ev)
		}
		g.tick++
	case PhaseRoundOver:
		g.Timer--
		if g.Timer <= 0 {
			g.NewRound()
		}
	}
	return ev
}

// Step moves every living cycle one cell and settles crashes and the round's end.
func (g *Cycles) Step() Events {
	var ev Events
	g.step(&ev)
	return ev
}

func (g *Cycles) step(ev *Events) {
	if g.Phase != PhaseRunning {
		return
	}
	g.Steps++
	var nx, ny [emu.Ports]int
	var crash [emu.Ports]bool
	for p := range g.Players {
		c := &g.Players[p]
		if !c.Alive {
			continue
		}
		if c.nTurns > 0 {
			c.Dir = Turn(c.Dir, c.turns[0])
			copy(c.turns[:], c.turns[1:])
			c.nTurns--
		}
		dx, dy := c.Dir.Delta()
		nx[p], ny[p] = c.X+dx, c.Y+dy
		crash[p] = g.Cell(nx[p], ny[p]) != cellEmpty
	}
	// Two heads entering the same cell crash together.
	for p := range g.Players {
		for q := p + 1; q < emu.Ports; q++ {
			if g.Players[p].Alive && g.Players[q].Alive && nx[p] == nx[q] && ny[p] == ny[q] {
				crash[p], crash[q] = true, true
			}
		}
	}
	for p := range g.Players {
		c := &g.Players[p]
		if !c.Alive {
			continue
		}
		if crash[p] {
			c.Alive = false
			ev.Crashed[p] = true
			continue
		}
		c.X, c.Y = nx[p], ny[p]
		g.set(c.X, c.Y, uint8(p+1))
	}
	g.settleRound(ev)
}

// settleRound ends the round when its result is known: with two or more riders
// the last one alive scores (all crashed together: nobody); a lone rider scores
// by surviving soloWinSteps steps.
func (g *Cycles) settleRound(ev *Events) {
	riders, alive, last := 0, 0, -1
	for p, c := range g.Players {
		if c.InRound {
			riders++
		}
		if c.Alive {
			alive++
			last = p
		}
	}
	switch {
	case riders >= 2 && alive <= 1, riders == 1 && alive == 0:
	case riders == 1 && g.Steps >= soloWinSteps:
	default:
		return
	}
	if alive == 1 {
		g.Players[last].Score++
		g.Winner = last + 1
		ev.Won = last + 1
	} else {
		g.Winner = 0
		ev.Lost = true
	}
	g.Phase, g.Timer = PhaseRoundOver, roundOverFrames
}
