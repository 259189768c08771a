package emu

import (
	"image/color"
	"testing"
)

// runTestCard sets the four ports and runs one frame.
func runTestCard(c Core, in [Ports]Buttons) {
	for p, b := range in {
		c.SetInput(p, b)
	}
	c.RunFrame()
}

// uniformColour returns the colour of the whole frame, failing if it is not uniform.
func uniformColour(t *testing.T, c Core) color.RGBA {
	t.Helper()
	img := c.Frame()
	if got := img.Bounds().Size(); got.X != 256 || got.Y != 240 {
		t.Fatalf("frame size %v, want 256x240", got)
	}
	first := img.RGBAAt(0, 0)
	for y := 0; y < 240; y++ {
		for x := 0; x < 256; x++ {
			if px := img.RGBAAt(x, y); px != first {
				t.Fatalf("pixel (%d,%d) = %v, (0,0) = %v: not uniform", x, y, px, first)
			}
		}
	}
	return first
}

func silent(a []int16) bool {
	for _, s := range a {
		if s != 0 {
			return false
		}
	}
	return true
}

func TestTestCardInfo(t *testing.T) {
	info := NewTestCard().Info()
	if info.Width != 256 || info.Height != 240 || info.FPS != 60 || info.SampleRate != 48000 {
		t.Fatalf("info %+v", info)
	}
}

func TestTestCardColoursAndPriority(t *testing.T) {
	a := ButtonA
	black := color.RGBA{0, 0, 0, 255}
	white := color.RGBA{255, 255, 255, 255}
	red := color.RGBA{255, 0, 0, 255}
	green := color.RGBA{0, 255, 0, 255}
	blue := color.RGBA{0, 0, 255, 255}
	cases := []struct {
		name  string
		in    [Ports]Buttons
		want  color.RGBA
		sound bool
	}{
		{"idle", [Ports]Buttons{}, black, false},
		{"p1 A", [Ports]Buttons{a, 0, 0, 0}, white, true},
		{"p2 A", [Ports]Buttons{0, a, 0, 0}, red, false},
		{"p3 A", [Ports]Buttons{0, 0, a, 0}, green, false},
		{"p4 A", [Ports]Buttons{0, 0, 0, a}, blue, false},
		{"p1 beats all", [Ports]Buttons{a, a, a, a}, white, true},
		{"p2 beats p3 p4", [Ports]Buttons{0, a, a, a}, red, false},
		{"p3 beats p4", [Ports]Buttons{0, 0, a, a}, green, false},
		{"other buttons ignored", [Ports]Buttons{ButtonB | ButtonStart, ButtonX, ButtonY, ButtonUp}, black, false},
		{"p1 B, p4 A", [Ports]Buttons{ButtonB, 0, 0, a | ButtonB}, blue, false},
	}
	c := NewTestCard()
	// Run the cases back to back on one core: each must take effect in the very
	// frame that first sees its input, whatever came before.
	for _, order := range [][]int{{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {9, 5, 0, 4, 1, 3, 7, 2, 6, 8, 1, 1}} {
		for _, i := range order {
			tc := cases[i]
			runTestCard(c, tc.in)
			if got := uniformColour(t, c); got != tc.want {
				t.Errorf("%s: colour %v, want %v", tc.name, got, tc.want)
			}
			audio := c.Audio()
			if len(audio) != 1600 {
				t.Fatalf("%s: %d samples, want 1600 (800 stereo)", tc.name, len(audio))
			}
			if tc.sound == silent(audio) {
				t.Errorf("%s: sound=%v, want %v", tc.name, !silent(audio), tc.sound)
			}
		}
	}
}

func TestTestCardTone440(t *testing.T) {
	c := NewTestCard()
	runTestCard(c, [Ports]Buttons{})
	// One second of tone, frame by frame: 440 Hz has 880 sign changes a second,
	// and the phase must run on across frame boundaries.
	var left []int16
	peak := 0
	for range 60 {
		runTestCard(c, [Ports]Buttons{ButtonA})
		a := c.Audio()
		for i := 0; i < len(a); i += 2 {
			if a[i] != a[i+1] {
				t.Fatalf("left %d != right %d", a[i], a[i+1])
			}
			left = append(left, a[i])
			peak = max(peak, int(a[i]), -int(a[i]))
		}
	}
	crossings := 0
	for i := 1; i < len(left); i++ {
		if (left[i-1] < 0) != (left[i] < 0) {
			crossings++
		}
	}
	if crossings < 876 || crossings > 884 {
		t.Errorf("%d zero crossings in 1 s, want ~880 (440 Hz)", crossings)
	}
	if lo, hi := 8192, 11468; peak < lo || peak > hi {
		t.Errorf("peak %d, want ~0.3 full scale (%d..%d)", peak, lo, hi)
	}
	// No jump at frame boundaries: consecutive samples of a 440 Hz sine at
	// 48 kHz at 0.3 amplitude differ by at most ~2*pi*440/48000*9830 ≈ 566.
	for i := 1; i < len(left); i++ {
		if d := int(left[i]) - int(left[i-1]); d > 600 || d < -600 {
			t.Fatalf("discontinuity at sample %d: %d -> %d", i, left[i-1], left[i])
		}
	}
	runTestCard(c, [Ports]Buttons{})
	if !silent(c.Audio()) {
		t.Error("tone still sounding after A was released")
	}
}

func TestTestCardAllocFree(t *testing.T) {
	c := NewTestCard()
	in := [Ports]Buttons{ButtonA}
	allocs := testing.AllocsPerRun(50, func() { runTestCard(c, in); in[0] ^= ButtonA })
	if allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
}

func TestBuiltinsOpen(t *testing.T) {
	for rom, want := range map[string]string{"": "recorder", LightCyclesID: "recorder", TestCardID: "Test Card"} {
		c, ok, err := testBuiltins.Open(rom)
		if !ok || err != nil || c.Info().Name != want {
			t.Errorf("Open(%q) = %v, %v, %v; want %s", rom, c, ok, err, want)
		}
	}
	if _, ok, err := testBuiltins.Open("builtin:nope"); !ok || err == nil {
		t.Errorf("unknown builtin: ok=%v err=%v, want ok and an error", ok, err)
	}
	if c, ok, err := testBuiltins.Open("/roms/game.nes"); ok || err != nil || c != nil {
		t.Errorf("file rom: %v %v %v, want not builtin", c, ok, err)
	}
	for rom, want := range map[string]string{"": LightCyclesID, LightCyclesID: LightCyclesID, TestCardID: TestCardID} {
		if g, ok, err := testBuiltins.Game(rom); !ok || err != nil || g.ID != want {
			t.Errorf("Game(%q) = %+v, %v, %v; want the entry %s", rom, g, ok, err, want)
		}
	}
	if _, ok, err := testBuiltins.Game("builtin:nope"); !ok || err == nil {
		t.Errorf("Game of an unknown builtin: ok=%v err=%v", ok, err)
	}
	if _, ok, _ := testBuiltins.Game("/roms/game.nes"); ok {
		t.Error("Game of a file rom says built-in")
	}
	// A console given no built-ins has the test card alone.
	if _, ok, err := (Builtins{TestCardID: NewTestCard}).Open(LightCyclesID); !ok || err == nil {
		t.Errorf("Light Cycles without it in the set: ok=%v err=%v", ok, err)
	}
}
