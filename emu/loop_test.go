package emu

import (
	"errors"
	"image"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is virtual time: Sleep advances it at once, so the loop runs as fast
// as it can while its schedule is checked exactly. Past limit, Sleep parks until
// stop instead, which halts the loop at a known point.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	limit  time.Time
	sleeps int
}

// at is frame n's time after start at fps, rounded to the nearest ns, computed
// in integers (independently of the loop's float arithmetic).
func at(n int64, fps int64) time.Duration {
	return time.Duration((n*int64(time.Second) + fps/2) / fps)
}

func newFakeClock(limit time.Duration) *fakeClock {
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	return &fakeClock{now: start, limit: start.Add(limit)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Sleep(d time.Duration, stop <-chan struct{}) {
	c.mu.Lock()
	c.sleeps++
	if t := c.now.Add(d); !t.After(c.limit) {
		c.now = t
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	<-stop
}

// recordingCore remembers the input it saw at each frame.
type recordingCore struct {
	fps    float64
	input  [Ports]Buttons
	sets   int // SetInput calls
	seen   [][Ports]Buttons
	img    *image.RGBA
	closed atomic.Bool
}

func newRecordingCore(fps float64) *recordingCore {
	return &recordingCore{fps: fps, img: image.NewRGBA(image.Rect(0, 0, 4, 4))}
}

func (r *recordingCore) Info() Info {
	return Info{Name: "recorder", Width: 4, Height: 4, FPS: r.fps, SampleRate: 48000}
}
func (r *recordingCore) SetInput(port int, b Buttons) { r.input[port] = b; r.sets++ }
func (r *recordingCore) RunFrame()                    { r.seen = append(r.seen, r.input) }
func (r *recordingCore) Frame() *image.RGBA           { return r.img }
func (r *recordingCore) Audio() []int16               { return nil }
func (r *recordingCore) Close() error                 { r.closed.Store(true); return nil }

// padState is an InputSource the test changes from the sink; its sticks are
// set before the loop starts.
type padState struct {
	b      [Ports]atomic.Uint32
	sticks [Ports]Analog
}

func (s *padState) Buttons(port int) Buttons { return Buttons(s.b[port].Load()) }
func (s *padState) Analog(port int) Analog   { return s.sticks[port] }

// analogCore is a recordingCore that also reads sticks.
type analogCore struct {
	*recordingCore
	sticks [Ports]Analog
}

func (a *analogCore) SetAnalog(port int, s Analog) { a.sticks[port] = s }

// waitFor waits until cond holds; the timeout only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoopScheduleNoDrift(t *testing.T) {
	const frames = 600 // 10 s at 60 fps; 1/60 s is not a whole number of ns
	clock := newFakeClock(at(frames-1, 60) + time.Millisecond)
	start := clock.Now()
	var mu sync.Mutex
	var times []time.Time
	sink := func(_ *image.RGBA, _ []int16, info Info) {
		mu.Lock()
		times = append(times, clock.Now())
		mu.Unlock()
		clock.Advance(5 * time.Millisecond) // the frame's work takes time too
	}
	l := NewLoop(NewTestCard(), nil, sink, clock)
	l.Start()
	waitFor(t, "600 frames", func() bool { return l.Frames() >= frames })
	l.Shutdown()

	mu.Lock()
	defer mu.Unlock()
	if len(times) != frames {
		t.Fatalf("%d frames, want %d (the clock stops the loop there)", len(times), frames)
	}
	for n, got := range times {
		want := start.Add(at(int64(n), 60))
		if n%60 == 0 && !want.Equal(start.Add(time.Duration(n/60)*time.Second)) {
			t.Fatal("test arithmetic")
		}
		if !got.Equal(want) {
			t.Fatalf("frame %d ran at +%v, want +%v", n, got.Sub(start), want.Sub(start))
		}
	}
}

func TestLoopResyncsInsteadOfBursting(t *testing.T) {
	clock := newFakeClock(2 * time.Second)
	start := clock.Now()
	var mu sync.Mutex
	var times []time.Time
	sink := func(*image.RGBA, []int16, Info) {
		mu.Lock()
		times = append(times, clock.Now())
		n := len(times)
		mu.Unlock()
		if n == 10 {
			clock.Advance(500 * time.Millisecond) // a stall of 30 frames
		}
	}
	l := NewLoop(NewTestCard(), nil, sink, clock)
	l.Start()
	waitFor(t, "frames", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) > 20 })
	l.Shutdown()

	mu.Lock()
	defer mu.Unlock()
	stallEnd := start.Add(at(9, 60) + 500*time.Millisecond)
	if !times[10].Equal(stallEnd) {
		t.Fatalf("first frame after the stall at +%v, want at once (+%v)", times[10].Sub(start), stallEnd.Sub(start))
	}
	for i := 11; i < len(times); i++ {
		if d := times[i].Sub(times[10]); d != at(int64(i-10), 60) {
			t.Fatalf("frame %d %v after the resync, want %v: a burst or drift", i, d, at(int64(i-10), 60))
		}
	}
}

func TestLoopAppliesInputBeforeNextFrame(t *testing.T) {
	core := newRecordingCore(60)
	pads := &padState{}
	const frames = 50
	clock := newFakeClock(at(frames-1, 60) + time.Millisecond)
	var calls atomic.Int64
	sink := func(*image.RGBA, []int16, Info) {
		// Change every port after frame k; frame k+1 must see it.
		k := calls.Add(1)
		for p := range Ports {
			pads.b[p].Store(uint32(k)<<(p*3) | uint32(p))
		}
	}
	l := NewLoop(core, pads, sink, clock)
	l.Start()
	waitFor(t, "frames", func() bool { return l.Frames() >= frames })
	l.Shutdown()

	if len(core.seen) != frames || core.sets != frames*Ports {
		t.Fatalf("%d frames, %d SetInput calls; want %d, %d", len(core.seen), core.sets, frames, frames*Ports)
	}
	if core.seen[0] != ([Ports]Buttons{}) {
		t.Errorf("frame 0 saw %v, want nothing pressed", core.seen[0])
	}
	for k := 1; k < frames; k++ {
		for p := range Ports {
			if want := Buttons(uint32(k)<<(p*3) | uint32(p)); core.seen[k][p] != want {
				t.Fatalf("frame %d port %d saw %#x, want %#x (input set after frame %d)", k, p, core.seen[k][p], want, k-1)
			}
		}
	}
}

// A core that reads sticks gets them and its d-pad untouched; one that does
// not gets the left stick as d-pad directions.
func TestLoopSticks(t *testing.T) {
	pads := &padState{}
	pads.b[0].Store(uint32(ButtonA))
	pads.sticks[0] = Analog{LX: 32767, LY: -32768, RX: 5, RY: -5}
	pads.sticks[1] = Analog{LX: -16384, LY: 16383} // left, and not quite down
	pads.sticks[2] = Analog{LX: 16383, LY: 16384}  // not quite right, and down

	run := func(core Core) {
		l := NewLoop(core, pads, nil, newFakeClock(at(2, 60)))
		l.Start()
		waitFor(t, "frames", func() bool { return l.Frames() >= 3 })
		l.Shutdown()
	}
	plain := newRecordingCore(60)
	run(plain)
	want := [Ports]Buttons{ButtonA | ButtonRight | ButtonUp, ButtonLeft, ButtonDown, 0}
	if got := plain.seen[len(plain.seen)-1]; got != want {
		t.Errorf("a core without sticks saw %#x, want %#x", got, want)
	}

	ac := &analogCore{recordingCore: newRecordingCore(60)}
	run(ac)
	if got := ac.seen[len(ac.seen)-1]; got != ([Ports]Buttons{ButtonA}) {
		t.Errorf("an analog core's buttons are %#x, want A on port 0 only", got)
	}
	if ac.sticks != pads.sticks {
		t.Errorf("an analog core got sticks %+v, want %+v", ac.sticks, pads.sticks)
	}
}

func TestLoopTestCardRespondsInNextFrame(t *testing.T) {
	pads := &padState{}
	clock := newFakeClock(time.Second)
	var mu sync.Mutex
	var colours []uint8 // red channel of pixel 0 per frame
	var loud []bool
	sink := func(img *image.RGBA, audio []int16, _ Info) {
		mu.Lock()
		colours = append(colours, img.Pix[0])
		loud = append(loud, !silent(audio))
		n := len(colours)
		mu.Unlock()
		if n == 5 {
			pads.b[0].Store(uint32(ButtonA))
		}
	}
	l := NewLoop(NewTestCard(), pads, sink, clock)
	l.Start()
	waitFor(t, "frames", func() bool { return l.Frames() >= 10 })
	l.Shutdown()
	mu.Lock()
	defer mu.Unlock()
	for i := range 10 {
		pressed := i >= 5
		if (colours[i] == 255) != pressed || loud[i] != pressed {
			t.Fatalf("frame %d: red %d loud %v, want pressed=%v", i, colours[i], loud[i], pressed)
		}
	}
}

func TestLoopShutdownPrompt(t *testing.T) {
	// A real clock and a core at 0.01 fps: after frame 0 the loop sleeps 100 s,
	// and Shutdown must cut that sleep short.
	core := newRecordingCore(0.01)
	l := NewLoop(core, nil, nil, RealClock{})
	l.Start()
	waitFor(t, "first frame", func() bool { return l.Frames() == 1 })
	done := make(chan struct{})
	go func() { l.Shutdown(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second): // hang guard, not a timing assertion
		t.Fatal("Shutdown did not return while the loop slept")
	}
	l.Shutdown() // twice is fine
	if core.closed.Load() {
		t.Error("Shutdown closed the caller's core")
	}
	if l.Frames() != 1 {
		t.Errorf("%d frames, want 1", l.Frames())
	}

	// Shutdown before Start returns, and Start afterwards does nothing.
	l2 := NewLoop(newRecordingCore(60), nil, nil, nil)
	l2.Shutdown()
	l2.Start()
	if l2.Frames() != 0 {
		t.Error("a shut loop ran")
	}
}

func TestLoopSetCore(t *testing.T) {
	first, second := newRecordingCore(60), newRecordingCore(30)
	clock := newFakeClock(time.Second)
	start := clock.Now()
	var l *Loop
	var mu sync.Mutex
	var times []time.Time
	var names []float64
	sink := func(_ *image.RGBA, _ []int16, info Info) {
		mu.Lock()
		times = append(times, clock.Now())
		names = append(names, info.FPS)
		n := len(times)
		mu.Unlock()
		if n == 5 {
			l.SetCore(second)
		}
	}
	l = NewLoop(first, nil, sink, clock)
	l.Start()
	waitFor(t, "frames on the new core", func() bool { mu.Lock(); defer mu.Unlock(); return len(times) >= 10 })
	l.Shutdown()
	if len(first.seen) != 5 || len(second.seen) < 5 {
		t.Fatalf("first ran %d frames, second %d", len(first.seen), len(second.seen))
	}
	if !first.closed.Load() || second.closed.Load() {
		t.Errorf("closed: first %v second %v; want the replaced core closed only", first.closed.Load(), second.closed.Load())
	}
	if l.Core() != second || l.Info().FPS != 30 {
		t.Error("Core/Info do not report the new core")
	}
	mu.Lock()
	defer mu.Unlock()
	// The swap happens at frame 5's slot; the new core then runs at 30 fps.
	if !times[5].Equal(start.Add(at(5, 60))) || names[5] != 30 {
		t.Fatalf("first frame of the new core at +%v (fps %v)", times[5].Sub(start), names[5])
	}
	for i := 6; i < len(times); i++ {
		if d := times[i].Sub(times[5]); d != at(int64(i-5), 30) {
			t.Fatalf("new core frame %d at %v after the swap, want %v", i-5, d, at(int64(i-5), 30))
		}
	}
}

func TestLoopDoRunsBetweenFrames(t *testing.T) {
	core := &recordingCore{fps: 60}
	l := NewLoop(core, nil, nil, newFakeClock(1000*time.Hour))
	var before Core
	if err := l.Do(func(c Core) { before = c }); err != nil || before != core {
		t.Fatalf("Do before Start: %v, core %v", err, before)
	}
	l.Start()
	for i := 0; i < 3; i++ {
		// The loop goroutine is inside Do's fn: no frame runs meanwhile.
		if err := l.Do(func(c Core) {
			n := l.Frames()
			time.Sleep(time.Millisecond)
			if l.Frames() != n {
				t.Error("a frame ran during Do")
			}
		}); err != nil {
			t.Fatal(err)
		}
	}
	l.Shutdown()
	if err := l.Do(func(Core) {}); !errors.Is(err, ErrLoopStopped) {
		t.Errorf("Do after Shutdown = %v", err)
	}
}

// Paused, no frame runs (the game's state stays as it was), Do and SetCore
// still work, and a resume starts frames again from now.
func TestLoopPause(t *testing.T) {
	first, second := newRecordingCore(60), newRecordingCore(60)
	l := NewLoop(first, nil, nil, RealClock{})
	l.Start()
	defer l.Shutdown()
	waitFor(t, "frames", func() bool { return l.Frames() > 3 })
	l.SetPaused(true)
	time.Sleep(50 * time.Millisecond) // the frame in flight, if any
	n := l.Frames()
	time.Sleep(200 * time.Millisecond)
	if got := l.Frames(); got != n || !l.Paused() {
		t.Fatalf("paused, yet %d frames ran", got-n)
	}
	var ran Core
	if err := l.Do(func(c Core) { ran = c }); err != nil || ran != first {
		t.Fatalf("Do while paused: %v, core %v", err, ran)
	}
	l.SetCore(second)
	waitFor(t, "the old core closed while paused", func() bool { return first.closed.Load() })
	if l.Frames() != n {
		t.Fatal("SetCore while paused ran a frame")
	}
	l.SetPaused(false)
	waitFor(t, "frames again after resume", func() bool { return l.Frames() > n+3 })
	if len(second.seen) == 0 {
		t.Fatal("the new core did not run after the resume")
	}
}
