package emu

import (
	"errors"
	"image"
	"math"
	"sync"
	"sync/atomic"
	"time"
)

// Clock is the time source of the frame loop; tests inject a fake one so that
// timing is checked without wall-clock assertions.
type Clock interface {
	Now() time.Time
	// Sleep blocks until d has passed or stop is closed.
	Sleep(d time.Duration, stop <-chan struct{})
}

// InputSource reports the newest pad state of each port; the loop asks it
// right before every frame so input is never older than one frame.
type InputSource interface {
	Buttons(port int) Buttons
	Analog(port int) Analog
}

// FrameSink receives every emulated frame. It runs on the loop goroutine and
// must not keep frame or audio after it returns.
type FrameSink func(frame *image.RGBA, audio []int16, info Info)

// maxLagFrames: when the loop falls further behind than this (a stalled host, a
// suspended laptop), it restarts its schedule from now instead of bursting
// frames to catch up.
const maxLagFrames = 3

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until stop is closed.
func (RealClock) Sleep(d time.Duration, stop <-chan struct{}) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-stop:
	}
}

// coreSwap carries a core handed to SetCore to the loop goroutine.
type coreSwap struct{ core Core }

// Loop drives a Core at its own frame rate on one goroutine: before each frame
// it reads the newest input of every port, runs the frame and hands the picture
// and sound to the sink.
type Loop struct {
	clock Clock
	input InputSource
	sink  FrameSink

	core    Core                     // used by the loop goroutine only
	pending atomic.Pointer[coreSwap] // a core waiting to replace core between frames
	tasks   chan loopTask            // work to run on the loop goroutine between frames
	info    atomic.Pointer[Info]     // Info of the core being run
	frames  atomic.Uint64
	// paused: no frames run (nobody watches); the game's state is kept.
	// wake (cap 1) gets the paused loop going: a resume, or a core to swap in.
	paused atomic.Bool
	wake   chan struct{}

	mu      sync.Mutex
	started bool
	stopped bool
	stop    chan struct{}
	done    chan struct{}
}

// NewLoop returns a stopped loop; input and sink may be nil, clock nil means RealClock.
func NewLoop(core Core, input InputSource, sink FrameSink, clock Clock) *Loop {
	if clock == nil {
		clock = RealClock{}
	}
	l := &Loop{clock: clock, input: input, sink: sink, core: core, tasks: make(chan loopTask),
		stop: make(chan struct{}), done: make(chan struct{}), wake: make(chan struct{}, 1)}
	info := core.Info()
	l.info.Store(&info)
	return l
}

// Start runs the loop on its own goroutine; a second call does nothing.
func (l *Loop) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.started || l.stopped {
		return
	}
	l.started = true
	go l.run()
}

// Shutdown stops the loop and waits for its goroutine to finish the frame it is
// in. It does not close the core: the caller that made it does. Safe to call
// more than once, and before Start.
func (l *Loop) Shutdown() {
	l.mu.Lock()
	started := l.started
	if !l.stopped {
		l.stopped = true
		close(l.stop)
	}
	l.mu.Unlock()
	if started {
		<-l.done
	}
}

// SetPaused stops running frames, or starts again. Paused, the game stands
// still with its state kept and costs no CPU; Do and SetCore still work. On
// resume the schedule starts afresh from now (no catching up).
func (l *Loop) SetPaused(on bool) {
	if l.paused.Swap(on) != on && !on {
		l.nudge()
	}
}

// Paused reports whether SetPaused(true) holds.
func (l *Loop) Paused() bool { return l.paused.Load() }

func (l *Loop) nudge() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// Frames returns the number of frames run so far.
func (l *Loop) Frames() uint64 { return l.frames.Load() }

// Info returns the Info of the core being run (after a SetCore, once it took effect).
func (l *Loop) Info() Info { return *l.info.Load() }

// SetCore replaces the core between two frames; the schedule restarts at the new
// core's frame rate. The loop closes the core it replaces (only the loop's
// goroutine may touch a running core). A core given to SetCore and replaced by a
// later SetCore before it ever ran is closed here.
func (l *Loop) SetCore(core Core) {
	if old := l.pending.Swap(&coreSwap{core: core}); old != nil && old.core != core {
		old.core.Close()
	}
	l.nudge() // a paused loop swaps it in now, closing the old core
}

// Core returns the current core. Call it only before Start or after Shutdown
// (e.g. to Close it); while running, the core belongs to the loop goroutine.
func (l *Loop) Core() Core {
	l.applySwap()
	return l.core
}

// applySwap installs a pending SetCore core, closing the one it replaces.
// It runs on the loop goroutine, or on the caller's when the loop is not running.
func (l *Loop) applySwap() bool {
	s := l.pending.Swap(nil)
	if s == nil {
		return false
	}
	if l.core != nil && l.core != s.core {
		l.core.Close()
	}
	l.core = s.core
	info := l.core.Info()
	l.info.Store(&info)
	return true
}

// loopTask is a function to run with the current core, and where to say it ran.
type loopTask struct {
	fn   func(Core)
	done chan struct{}
}

// ErrLoopStopped is returned by Do once the loop has been shut down.
var ErrLoopStopped = errors.New("the game loop has stopped")

// Do runs fn with the current core on the loop goroutine, between two frames,
// and waits for it: the only safe way to touch a running core (reset, save
// states, battery RAM). Before Start it runs fn on the caller's goroutine.
func (l *Loop) Do(fn func(Core)) error {
	l.mu.Lock()
	started, stopped := l.started, l.stopped
	if !started && !stopped {
		// Not running yet: hold the lock so Start waits for fn.
		defer l.mu.Unlock()
		l.applySwap()
		fn(l.core)
		return nil
	}
	l.mu.Unlock()
	if stopped {
		return ErrLoopStopped
	}
	t := loopTask{fn: fn, done: make(chan struct{})}
	select {
	case l.tasks <- t:
	case <-l.done:
		return ErrLoopStopped
	}
	<-t.done
	return nil
}

// runTasks runs the tasks waiting now, without blocking.
func (l *Loop) runTasks() {
	for {
		select {
		case t := <-l.tasks:
			l.applySwap()
			t.fn(l.core)
			close(t.done)
		default:
			return
		}
	}
}

// frameOffset is the time of frame n after the schedule's start. Computed from n
// each time (not by adding a rounded period) so the schedule never drifts.
func frameOffset(n int64, fps float64) time.Duration {
	return time.Duration(math.Round(float64(n) * float64(time.Second) / fps))
}

func (l *Loop) run() {
	defer close(l.done)
	var (
		base   time.Time
		n      int64 // frames run since base
		fps    float64
		rebase = true
	)
	for {
		select {
		case <-l.stop:
			return
		default:
		}
		if l.paused.Load() {
			l.applySwap()
			l.runTasks()
			select {
			case <-l.stop:
				return
			case <-l.wake:
			case t := <-l.tasks:
				l.applySwap()
				t.fn(l.core)
				close(t.done)
			}
			rebase = true // frames start from now when it resumes
			continue
		}
		if l.applySwap() && !rebase {
			// A new core starts in the slot the old one's next frame had, then
			// keeps its own rate.
			base, n = base.Add(frameOffset(n, fps)), 0
			fps = coreFPS(l.core)
		}
		if rebase {
			fps = coreFPS(l.core)
			base, n, rebase = l.clock.Now(), 0, false
		}
		due := base.Add(frameOffset(n, fps))
		now := l.clock.Now()
		if wait := due.Sub(now); wait > 0 {
			l.sleep(wait)
			continue // re-check stop and swaps; due is unchanged
		} else if -wait > maxLagFrames*frameOffset(1, fps) {
			base, n = now, 0 // too far behind: resync rather than burst
		}
		l.runFrame()
		n++
		l.runTasks()
	}
}

// sleep waits until the next frame is due, running tasks that come meanwhile
// (a task waits at most one frame, not the whole sleep).
func (l *Loop) sleep(d time.Duration) {
	l.runTasks()
	l.clock.Sleep(d, l.stop)
	l.runTasks()
}

// coreFPS is the core's frame rate, 60 when it reports none.
func coreFPS(c Core) float64 {
	if fps := c.Info().FPS; fps > 0 {
		return fps
	}
	return 60
}

func (l *Loop) runFrame() {
	c := l.core
	ac, analog := c.(AnalogCore)
	for p := range Ports {
		var (
			b Buttons
			a Analog
		)
		if l.input != nil {
			b, a = l.input.Buttons(p), l.input.Analog(p)
		}
		if analog {
			ac.SetAnalog(p, a)
		} else {
			b |= a.Dpad()
		}
		c.SetInput(p, b)
	}
	c.RunFrame()
	l.frames.Add(1)
	if l.sink != nil {
		l.sink(c.Frame(), c.Audio(), *l.info.Load())
	}
}
