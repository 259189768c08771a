package libretro

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"couchplay/emu"
)

// records is a slog.Handler that keeps every record's message, for tests that
// count what the host logged.
type records struct {
	level slog.Level
	mu    sync.Mutex
	msgs  []string
}

func (r *records) Enabled(_ context.Context, l slog.Level) bool { return l >= r.level }
func (r *records) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, rec.Message)
	r.mu.Unlock()
	return nil
}
func (r *records) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *records) WithGroup(string) slog.Handler      { return r }

// matching lists the messages that contain s.
func (r *records) matching(s string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, m := range r.msgs {
		if strings.Contains(m, s) {
			out = append(out, m)
		}
	}
	return out
}

// openLogged is openTest with the host's log kept in a records handler.
func openLogged(t *testing.T, rom string, opts Options, level slog.Level) (*Process, *records) {
	t.Helper()
	core, _ := testCores(t)
	rec := &records{level: level}
	opts.Core, opts.ROM, opts.Logger = core, rom, slog.New(rec)
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	p, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, rec
}

// A core that truncates the shared frame memory (ftruncate(fd, 0) after a
// frame) must not take the host down: a host that read its mapping then died
// of SIGBUS, reading the frame (a viewer: Hub.enqueue) or darkening the last
// one when the child died of its own SIGBUS (Process.die). The memfd is sealed
// against shrinking before the child starts, so the core's ftruncate fails
// and the game goes on.
func TestCoreCannotShrinkTheFrameMemory(t *testing.T) {
	dir := t.TempDir()
	for _, viewer := range []bool{true, false} {
		name := map[bool]string{true: "a viewer reads every frame", false: "nobody reads the frames"}[viewer]
		t.Run(name, func(t *testing.T) {
			rec := newCrashRecorder()
			p, logs := openLogged(t, game(t, dir, "shrink.tst", "mode shrink\nat 2\n"), Options{Crashed: rec.crashed}, slog.LevelInfo)
			p.SetInput(0, emu.ButtonA)
			for range 10 {
				p.RunFrame()
				if viewer {
					pixel(p, 10, 10) // what Hub.enqueue does: copy the picture
				}
			}
			if p.dead {
				select {
				case <-rec.got:
					t.Fatalf("the game died: %v", rec.errs)
				case <-time.After(5 * time.Second):
					t.Fatal("the game died without a report")
				}
			}
			if got := pixel(p, 10, 10); got != white {
				t.Errorf("after the core tried to shrink its frame memory: pixel %v, want white (the game goes on)", got)
			}
			if refused := logs.matching("could not shrink /memfd:couchplay-frames"); len(refused) != 1 {
				t.Errorf("the core's ftruncate was not refused: log %q, shrank %q", refused, logs.matching("shrank"))
			}
		})
	}
}

// The host maps no more of the frame memory than the file holds: a child
// that claims a bigger buffer than it made is refused with a clear error
// instead of a mapping whose far end faults.
func TestFrameMapRefusesMoreThanTheMemfdHolds(t *testing.T) {
	fd, err := unix.MemfdCreate("test-frames", unix.MFD_CLOEXEC)
	if err != nil {
		t.Skip(err)
	}
	p := &Process{mem: os.NewFile(uintptr(fd), "test-frames")}
	defer p.closeFiles()
	if err := p.mem.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	if err := p.mapFrames(4096); err != nil {
		t.Fatalf("a buffer the size of the memfd: %v", err)
	}
	if err := p.mapFrames(1 << 20); err == nil || !strings.Contains(err.Error(), "frame buffer") {
		t.Fatalf("a 1 MiB buffer in a 4 KiB memfd: err = %v, want a refusal", err)
	}
	if p.mapped != nil {
		t.Error("a refused map left a mapping")
	}
}

// A core that logs without end (one logged 600,000 ERROR lines in 4 s) must
// not fill the host's log: at most logLinesPerSecond of its lines a second
// reach it, and the number dropped is said once the second is over.
func TestCoreLogFloodIsRateLimited(t *testing.T) {
	dir := t.TempDir()
	p, logs := openLogged(t, game(t, dir, "flood.tst", "mode logflood\nat 0\n"), Options{}, slog.LevelInfo)
	clock := time.Unix(1_000_000, 0)
	p.logLimit.now = func() time.Time { return clock }
	for range 3 { // 3 x 2000 lines within one (fake) second
		p.RunFrame()
	}
	if got := len(logs.matching("flood line")); got != logLinesPerSecond {
		t.Fatalf("%d flood lines logged in one second, want %d", got, logLinesPerSecond)
	}
	if got := logs.matching("dropped"); len(got) != 0 {
		t.Fatalf("drops reported before the second is over: %q", got)
	}
	clock = clock.Add(time.Second)
	p.RunFrame()
	want := "core: dropped 5950 log lines"
	if got := logs.matching("dropped"); len(got) != 1 || !strings.Contains(got[0], want) {
		t.Fatalf("drop report %q, want one saying %q", got, want)
	}
	if got := len(logs.matching("flood line")); got != 2*logLinesPerSecond {
		t.Fatalf("%d flood lines logged after two seconds, want %d", got, 2*logLinesPerSecond)
	}
	// Close says how many of the last second's went unlogged.
	p.Close()
	if got := logs.matching("dropped"); len(got) != 2 || !strings.Contains(got[1], "dropped 1950 log lines") {
		t.Fatalf("drop reports after Close: %q", got)
	}
}
