package libretro

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"image/color"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"couchplay/emu"
)

// The test binary is also the core's child: Open re-executes it with ChildCommand.
func TestMain(m *testing.M) {
	if IsChild(os.Args) {
		os.Exit(ChildMain())
	}
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

var (
	buildOnce sync.Once
	buildDir  string
	buildErr  error
)

// testCores builds testdata/testcore (a tiny libretro core in C) and a .so
// that is not a core, once per test run.
func testCores(t *testing.T) (core, notACore string) {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "couchplay-testcore")
		if buildErr != nil {
			return
		}
		for _, b := range [][]string{
			{"-I/usr/include/libretro-common", "-o", filepath.Join(buildDir, "testcore_libretro.so"), "testdata/testcore/testcore.c"},
			{"-o", filepath.Join(buildDir, "notacore_libretro.so"), "testdata/testcore/notacore.c"},
		} {
			out, err := exec.Command("gcc", append([]string{"-shared", "-fPIC", "-O1", "-Wall"}, b...)...).CombinedOutput()
			if err != nil {
				buildErr = fmt.Errorf("gcc: %v\n%s", err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(buildDir, "testcore_libretro.so"), filepath.Join(buildDir, "notacore_libretro.so")
}

// game writes a testcore game file and returns its path.
func game(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type crashRecorder struct {
	mu   sync.Mutex
	errs []error
	got  chan struct{}
}

func newCrashRecorder() *crashRecorder { return &crashRecorder{got: make(chan struct{}, 1)} }

func (c *crashRecorder) crashed(err error) {
	c.mu.Lock()
	c.errs = append(c.errs, err)
	c.mu.Unlock()
	c.got <- struct{}{}
}

func openTest(t *testing.T, rom string, opts Options) *Process {
	t.Helper()
	core, _ := testCores(t)
	opts.Core, opts.ROM = core, rom
	if opts.DataDir == "" {
		opts.DataDir = t.TempDir()
	}
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	p, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func pixel(p *Process, x, y int) color.RGBA { return p.Frame().RGBAAt(x, y) }

var (
	black = color.RGBA{0, 0, 0, 255}
	white = color.RGBA{255, 255, 255, 255}
)

func TestQuadrantsAudioAndRate(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, game(t, dir, "quad.tst", "mode normal\n"), Options{})
	info := p.Info()
	if info.Width != 160 || info.Height != 144 || info.FPS != 59.7275 || info.SampleRate != 48000 {
		t.Fatalf("info = %+v, want 160x144 at 59.7275 fps, 48 kHz", info)
	}
	centres := [4][2]int{{40, 36}, {120, 36}, {40, 108}, {120, 108}}
	for port := range emu.Ports {
		for q := range emu.Ports {
			p.SetInput(q, 0)
		}
		p.SetInput(port, emu.ButtonA)
		p.RunFrame()
		for q, c := range centres {
			want := black
			if q == port {
				want = white
			}
			if got := pixel(p, c[0], c[1]); got != want {
				t.Errorf("port %d holds A: quadrant %d = %v, want %v", port, q+1, got, want)
			}
		}
	}
	// 60 frames of sound at 32040.5 Hz, resampled: about 60/59.7275 s of 48 kHz stereo.
	total := 0
	for range 60 {
		p.RunFrame()
		total += len(p.Audio()) / 2
	}
	want := 48000 * 60 / 59.7275
	if float64(total) < want*0.97 || float64(total) > want*1.03 {
		t.Errorf("60 frames gave %d samples, want about %.0f", total, want)
	}
	loud := false
	for _, s := range p.Audio() {
		loud = loud || s > 1000 || s < -1000
	}
	if !loud {
		t.Error("port 3 holds A but the frame is silent")
	}
}

// A zipped ROM is unpacked in the child for a core that takes data in memory.
func TestZippedROM(t *testing.T) {
	dir := t.TempDir()
	zipPath := filepath.Join(dir, "Quads.zip")
	f, _ := os.Create(zipPath)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("readme.txt")
	w.Write([]byte("not the game"))
	w, _ = zw.Create("Quads.tst")
	w.Write([]byte("format xrgb8888\n"))
	zw.Close()
	f.Close()
	core, _ := testCores(t)
	f2 := &Finder{Dirs: []string{filepath.Dir(core)}, Logger: slog.New(slog.DiscardHandler), cache: map[string]probed{}}
	if ci, err := f2.ForROM(zipPath, ""); err != nil || ci.Name != "couchplay testcore" {
		t.Errorf("ForROM(zip) = %+v, %v; want the core of the file inside", ci, err)
	}
	p := openTest(t, zipPath, Options{})
	p.SetInput(3, emu.ButtonA)
	p.RunFrame()
	if got := pixel(p, 150, 140); got != white {
		t.Errorf("zipped game: lit quadrant = %v, want white", got)
	}
}

func TestPixelFormats(t *testing.T) {
	dir := t.TempDir()
	for _, format := range []string{"xrgb8888", "rgb565", "0rgb1555"} {
		p := openTest(t, game(t, dir, format+".tst", "format "+format+"\n"), Options{})
		p.SetInput(0, emu.ButtonA)
		p.RunFrame()
		if got := pixel(p, 10, 10); got != white {
			t.Errorf("%s: lit quadrant = %v, want white", format, got)
		}
		if got := pixel(p, 150, 140); got != black {
			t.Errorf("%s: dark quadrant = %v, want black", format, got)
		}
		p.Close()
	}
}

func TestDupeKeepsLastFrameAndResize(t *testing.T) {
	dir := t.TempDir()
	p := openTest(t, game(t, dir, "dupe.tst", "dupe 1\nresize 5\n"), Options{})
	p.SetInput(0, emu.ButtonA)
	p.RunFrame() // frame 0: drawn
	p.SetInput(0, 0)
	p.RunFrame() // frame 1: a dupe, the lit picture stays
	if got := pixel(p, 10, 10); got != white {
		t.Errorf("after a dupe frame the quadrant = %v, want the last frame's white", got)
	}
	p.RunFrame() // frame 2: drawn, dark
	if got := pixel(p, 10, 10); got != black {
		t.Errorf("after a drawn frame the quadrant = %v, want black", got)
	}
	for range 4 {
		p.RunFrame()
	}
	if b := p.Frame().Bounds(); b.Dx() != 240 || b.Dy() != 160 || p.Info().Width != 240 {
		t.Errorf("after SET_GEOMETRY the frame is %v (info %dx%d), want 240x160", b, p.Info().Width, p.Info().Height)
	}
}

func TestBatteryRAMSurvivesRestart(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	rom := game(t, dir, "Boot Counter.tst", "mode normal\n")
	srm := filepath.Join(data, "saves", "Boot Counter.srm")
	for boot := 1; boot <= 2; boot++ {
		p := openTest(t, rom, Options{DataDir: data})
		for range 3 {
			p.RunFrame()
		}
		if err := p.Close(); err != nil {
			t.Fatalf("boot %d: Close: %v", boot, err)
		}
		saved, err := os.ReadFile(srm)
		if err != nil {
			t.Fatalf("boot %d: %v", boot, err)
		}
		if len(saved) != 2048 || string(saved[:4]) != "TSTC" || int(saved[4]) != boot {
			t.Fatalf("boot %d: save = %d bytes %q count %d, want 2048 bytes TSTC count %d", boot, len(saved), saved[:4], saved[4], boot)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(data, "saves", ".*tmp"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestSaveStates(t *testing.T) {
	dir, data := t.TempDir(), t.TempDir()
	p := openTest(t, game(t, dir, "a.tst", "mode normal\n"), Options{DataDir: data})
	for range 5 {
		p.RunFrame()
	}
	if err := p.LoadState(1); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty slot: err = %v", err)
	}
	if err := p.SaveState(1); err != nil {
		t.Fatal(err)
	}
	if err := p.LoadState(1); err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if err := p.SaveState(0); err == nil {
		t.Error("slot 0 accepted")
	}
	state := filepath.Join(data, "states", "a.state1")
	good, _ := os.ReadFile(state)

	// Damaged: one byte of the core's data flipped.
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff
	os.WriteFile(state, bad, 0o644)
	if err := p.LoadState(1); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt state: err = %v", err)
	}
	os.WriteFile(state, []byte("garbage"), 0o644)
	if err := p.LoadState(1); err == nil || !strings.Contains(err.Error(), "not a couchplay save state") {
		t.Errorf("garbage state: err = %v", err)
	}

	// Foreign: a state of another game put in this game's slot.
	other := openTest(t, game(t, dir, "b.tst", "mode normal\nother game\n"), Options{DataDir: data})
	other.RunFrame()
	if err := other.SaveState(2); err != nil {
		t.Fatal(err)
	}
	foreign, _ := os.ReadFile(filepath.Join(data, "states", "b.state2"))
	os.WriteFile(filepath.Join(data, "states", "a.state2"), foreign, 0o644)
	if err := p.LoadState(2); err == nil || !strings.Contains(err.Error(), "another game (b.tst)") {
		t.Errorf("foreign state: err = %v", err)
	}
	// The game goes on.
	p.SetInput(0, emu.ButtonA)
	p.RunFrame()
	if p.dead || pixel(p, 10, 10) != white {
		t.Error("the game stopped after a refused state")
	}
}

func TestCrashesAreContained(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ mode, want string }{
		{"crash", "SIGSEGV"},
		{"abort", "SIGABRT"},
		{"hang", "stopped responding"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			fds, goroutines := openFDs(t), runtime.NumGoroutine()
			rec := newCrashRecorder()
			p := openTest(t, game(t, dir, tc.mode+".tst", "mode "+tc.mode+"\nat 5\n"), Options{Crashed: rec.crashed, Watchdog: 300 * time.Millisecond})
			p.SetInput(0, emu.ButtonA)
			for range 10 {
				p.RunFrame()
			}
			select {
			case <-rec.got:
			case <-time.After(10 * time.Second):
				t.Fatal("no crash report")
			}
			rec.mu.Lock()
			err := rec.errs[0]
			rec.mu.Unlock()
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("crash report %q does not say %q", err, tc.want)
			}
			// A still, darkened picture of the last frame, silence.
			if got := pixel(p, 10, 10); got != (color.RGBA{85, 85, 85, 255}) || len(p.Audio()) != 0 {
				t.Errorf("after the crash: pixel %v, %d samples; want a dimmed still and silence", got, len(p.Audio()))
			}
			if p.cmd.ProcessState == nil {
				t.Error("the child was not reaped")
			}
			if err := p.SaveState(1); err == nil {
				t.Error("save state of a crashed game succeeded")
			}
			p.Close()
			if got := openFDs(t); got > fds {
				t.Errorf("open fds %d after the crash, %d before", got, fds)
			}
			for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
				time.Sleep(10 * time.Millisecond)
			}
			if got := runtime.NumGoroutine(); got > goroutines {
				t.Errorf("%d goroutines after the crash, %d before", got, goroutines)
			}
		})
	}
}

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc")
	}
	runtime.GC()
	return len(entries)
}

func TestLoadFailuresAreClear(t *testing.T) {
	dir := t.TempDir()
	core, notACore := testCores(t)
	for _, tc := range []struct {
		core, rom, want string
	}{
		{core, game(t, dir, "bad.tst", "mode badload\n"), "refusing this game"},
		{core, game(t, dir, "bios.tst", "bios scph1001.bin\n"), "missing BIOS"},
		{notACore, game(t, dir, "x.tst", ""), "is not a libretro core"},
		{filepath.Join(dir, "nothere_libretro.so"), game(t, dir, "y.tst", ""), "cannot load"},
	} {
		_, err := Open(Options{Core: tc.core, ROM: tc.rom, DataDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %s: err = %v, want it to say %q", filepath.Base(tc.core), filepath.Base(tc.rom), err, tc.want)
		}
	}
}

func TestFinder(t *testing.T) {
	core, notACore := testCores(t)
	cores := t.TempDir()
	for _, src := range []string{core, notACore} {
		data, _ := os.ReadFile(src)
		os.WriteFile(filepath.Join(cores, filepath.Base(src)), data, 0o755)
	}
	f := &Finder{Dirs: []string{cores}, Logger: slog.New(slog.DiscardHandler), cache: map[string]probed{}}
	roms := t.TempDir()
	tst := game(t, roms, "Quad.tst", "mode normal\n")
	game(t, roms, "Zelda.gba", "")
	game(t, roms, "notes.txt", "")
	ci, err := f.ForROM(tst, "")
	if err != nil || ci.Name != "couchplay testcore" {
		t.Fatalf("ForROM(.tst) = %+v, %v", ci, err)
	}
	_, err = f.ForROM(filepath.Join(roms, "Zelda.gba"), "")
	if !errors.Is(err, ErrNoCore) || !strings.Contains(err.Error(), ".gba") || !strings.Contains(err.Error(), cores) || !strings.Contains(err.Error(), "libretro-mgba") {
		t.Errorf("ForROM(.gba) err = %v; want the extension, the dirs searched and the package", err)
	}
	if _, err := f.ForROM(tst, notACore); err == nil || !strings.Contains(err.Error(), "is not a libretro core") {
		t.Errorf("--core notacore: err = %v", err)
	}
	games := f.Library([]string{roms})
	if len(games) != 2 || games[0].Name != "Quad" || games[0].CorePath == "" || games[1].Name != "Zelda" || !strings.Contains(games[1].Problem, "libretro-mgba") {
		t.Errorf("library = %+v", games)
	}
}

// BenchmarkNESFrame runs the NES test ROM on Debian's nestopia (make testdata)
// and reports where a frame's time goes: in the core, and across the process
// boundary (make bench prints it).
func BenchmarkNESFrame(b *testing.B) {
	cores, data := os.Getenv("COUCHPLAY_CORES_CACHE"), os.Getenv("COUCHPLAY_TEST_DATA")
	if cores == "" || data == "" {
		b.Skip("run through make bench (COUCHPLAY_CORES_CACHE, COUCHPLAY_TEST_DATA)")
	}
	p, err := Open(Options{Core: filepath.Join(cores, "nestopia_libretro.so"), ROM: filepath.Join(data, "quad.nes"),
		DataDir: b.TempDir(), CoreOptions: DefaultCoreOptions, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	for range 10 {
		p.RunFrame()
	}
	base := p.Stats()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		p.SetInput(i%4, emu.ButtonA) // a moving picture and sound
		p.RunFrame()
	}
	st := p.Stats()
	n := float64(st.Frames - base.Frames)
	core := float64(st.Core-base.Core) / n
	trip := float64(st.RoundTrip-base.RoundTrip) / n
	b.ReportMetric(core/1e3, "core-µs/frame")
	b.ReportMetric((trip-core)/1e3, "ipc-µs/frame")
}
