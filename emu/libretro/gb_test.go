package libretro

import (
	"fmt"
	"image/color"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"testing"

	"couchplay/emu"
)

// The Game Boy test ROM is generated here, from hand-written SM83 machine code
// (testdata/gb/README.md), so nothing but this source is committed.

// sm83 is one instruction of the test ROM: its bytes, an optional label
// naming its address, and, for a relative jump, the label it jumps to (its
// last byte, the rel8 displacement, is filled in by assembleSM83).
type sm83 struct {
	label string
	code  []byte
	jr    string
}

const (
	gbCodeBase = 0x150 // the program, right after the header
	gbP1       = 0x00  // P1/JOYP: bit 5 = 0 selects the button keys, bits 0-3 read them (0 = pressed; bit 0 = A)
	gbBGP      = 0x47  // BGP: shade of each of the 4 background colours, 2 bits each (0 white, 3 black)
)

// gbBootCounterCode: enable cartridge RAM; if A000-A003 is not "CPGB",
// write it and zero the counter at A004; increment A004; then forever: the
// whole screen white (BGP = 0x00: every colour is shade 0) while A is held,
// black (BGP = 0xFF) otherwise. Every colour maps to the same shade, so the
// picture is uniform whatever the tiles and map hold after boot.
func gbBootCounterCode() []sm83 {
	// The opcodes used (SM83, the Game Boy's CPU).
	var (
		di     = []byte{0xF3}                                                         // DI
		xorA   = []byte{0xAF}                                                         // XOR A: A = 0
		incHL  = []byte{0x34}                                                         // INC (HL)
		ldHLA  = []byte{0x77}                                                         // LD (HL),A
		ldHLiA = []byte{0x22}                                                         // LD (HL+),A
		ldAHLi = []byte{0x2A}                                                         // LD A,(HL+)
		bit0A  = []byte{0xCB, 0x47}                                                   // BIT 0,A: Z = !bit 0
		jrZ    = []byte{0x28, 0}                                                      // JR Z,rel8
		jrNZ   = []byte{0x20, 0}                                                      // JR NZ,rel8
		jr     = []byte{0x18, 0}                                                      // JR rel8
		ldSP   = func(v uint16) []byte { return []byte{0x31, byte(v), byte(v >> 8)} } // LD SP,d16
		ldHL   = func(v uint16) []byte { return []byte{0x21, byte(v), byte(v >> 8)} } // LD HL,d16
		ldA    = func(v byte) []byte { return []byte{0x3E, v} }                       // LD A,d8
		cpA    = func(v byte) []byte { return []byte{0xFE, v} }                       // CP d8
		ldMemA = func(a uint16) []byte { return []byte{0xEA, byte(a), byte(a >> 8)} } // LD (a16),A
		ldhIOA = func(io byte) []byte { return []byte{0xE0, io} }                     // LDH (FF00+a8),A
		ldhAIO = func(io byte) []byte { return []byte{0xF0, io} }                     // LDH A,(FF00+a8)
	)
	return []sm83{
		{code: di},                             // no interrupts (IE is 0 after boot anyway)
		{code: ldSP(0xFFFE)},                   // stack at the top of HRAM
		{code: ldA(0x0A)},                      // MBC1: 0x0A written to 0000-1FFF...
		{code: ldMemA(0x0000)},                 // ...enables the cartridge RAM at A000-BFFF
		{code: ldHL(0xA000)},                   // HL = the signature
		{code: ldAHLi},                         // A = [A000]
		{code: cpA('C')},                       //
		{code: jrNZ, jr: "init"},               // not ours: initialise
		{code: ldAHLi},                         // A = [A001]
		{code: cpA('P')},                       //
		{code: jrNZ, jr: "init"},               //
		{code: ldAHLi},                         // A = [A002]
		{code: cpA('G')},                       //
		{code: jrNZ, jr: "init"},               //
		{code: ldAHLi},                         // A = [A003]
		{code: cpA('B')},                       //
		{code: jrNZ, jr: "init"},               //
		{code: jr, jr: "count"},                // signature present: keep the counter
		{label: "init", code: ldHL(0xA000)},    // HL = A000
		{code: ldA('C')},                       //
		{code: ldHLiA},                         // [A000] = 'C'
		{code: ldA('P')},                       //
		{code: ldHLiA},                         // [A001] = 'P'
		{code: ldA('G')},                       //
		{code: ldHLiA},                         // [A002] = 'G'
		{code: ldA('B')},                       //
		{code: ldHLiA},                         // [A003] = 'B', HL = A004
		{code: xorA},                           // A = 0
		{code: ldHLA},                          // [A004] = 0: the counter
		{label: "count", code: ldHL(0xA004)},   // HL = the counter
		{code: incHL},                          // one more boot
		{label: "loop", code: ldA(0x10)},       // P1 bit 5 = 0: select the button keys (bit 4 = 1: not the d-pad)
		{code: ldhIOA(gbP1)},                   //
		{code: ldhAIO(gbP1)},                   // read P1 twice: the first read
		{code: ldhAIO(gbP1)},                   // lets the lines settle on hardware
		{code: bit0A},                          // bit 0 = A, 0 = pressed
		{code: jrZ, jr: "pressed"},             //
		{code: ldA(0xFF)},                      // released: every colour black
		{code: jr, jr: "setbgp"},               //
		{label: "pressed", code: xorA},         // held: every colour white
		{label: "setbgp", code: ldhIOA(gbBGP)}, // BGP = A
		{code: jr, jr: "loop"},                 // forever
	}
}

// assembleSM83 lays out code from address org, resolving the relative jumps.
func assembleSM83(org uint16, code []sm83) ([]byte, error) {
	addr := map[string]int{}
	pc := int(org)
	for _, in := range code {
		if in.label != "" {
			addr[in.label] = pc
		}
		pc += len(in.code)
	}
	var out []byte
	pc = int(org)
	for _, in := range code {
		b := append([]byte(nil), in.code...)
		pc += len(b)
		if in.jr != "" {
			to, ok := addr[in.jr]
			if !ok {
				return nil, fmt.Errorf("no label %q", in.jr)
			}
			d := to - pc // relative to the next instruction
			if d < -128 || d > 127 {
				return nil, fmt.Errorf("jump to %q out of range (%d)", in.jr, d)
			}
			b[len(b)-1] = byte(int8(d))
		}
		out = append(out, b...)
	}
	return out, nil
}

// gbBootCounterROM builds the 32 KiB Game Boy ROM: header (without Nintendo's
// logo: 0104-0133 stay zero), MBC1+RAM+BATTERY with 8 KiB of RAM, both
// checksums, and the program at 0150.
func gbBootCounterROM() ([]byte, error) {
	rom := make([]byte, 32<<10)
	copy(rom[0x100:], []byte{0x00, 0xC3, gbCodeBase & 0xFF, gbCodeBase >> 8}) // entry point: NOP; JP 0150
	copy(rom[0x134:0x143], "BOOTCOUNTER")                                     // title; 0143 = 0x00: a DMG game
	rom[0x147] = 0x03                                                         // cartridge type: MBC1+RAM+BATTERY
	rom[0x148] = 0x00                                                         // ROM size: 32 KiB, no banking
	rom[0x149] = 0x02                                                         // RAM size: 8 KiB
	rom[0x14A] = 0x01                                                         // destination: non-Japanese
	var x byte
	for _, b := range rom[0x134:0x14D] {
		x = x - b - 1
	}
	rom[0x14D] = x // header checksum (the boot ROM checks it)
	prog, err := assembleSM83(gbCodeBase, gbBootCounterCode())
	if err != nil {
		return nil, err
	}
	copy(rom[gbCodeBase:], prog)
	var sum uint16
	for i, b := range rom {
		if i != 0x14E && i != 0x14F {
			sum += uint16(b)
		}
	}
	rom[0x14E], rom[0x14F] = byte(sum>>8), byte(sum) // global checksum, big-endian
	return rom, nil
}

func TestGameBoyROMHeader(t *testing.T) {
	rom, err := gbBootCounterROM()
	if err != nil {
		t.Fatal(err)
	}
	if len(rom) != 32768 || rom[0x147] != 0x03 || rom[0x149] != 0x02 {
		t.Fatalf("header: %d bytes, type %#x, RAM %#x", len(rom), rom[0x147], rom[0x149])
	}
	for _, b := range rom[0x104:0x134] {
		if b != 0 {
			t.Fatal("the logo area is not blank")
		}
	}
	var x byte
	for _, b := range rom[0x134:0x14E] { // header bytes plus their checksum: -25 (mod 256)
		x += b
	}
	if x+0x19 != 0 {
		t.Errorf("header checksum: 0134-014D sum to %#x", x)
	}
	var sum uint16
	for i, b := range rom {
		if i != 0x14E && i != 0x14F {
			sum += uint16(b)
		}
	}
	if stored := uint16(rom[0x14E])<<8 | uint16(rom[0x14F]); sum != stored {
		t.Errorf("global checksum: bytes sum to %#x, 014E-014F hold %#x", sum, stored)
	}
	// Spot-check the jumps: the final JR goes back to "loop" (LD A,0x10).
	prog := rom[0x150:]
	end := len(prog)
	for end > 0 && prog[end-1] == 0 {
		end--
	}
	if prog[end-2] != 0x18 {
		t.Fatalf("program does not end with JR: % x", prog[:end])
	}
	loop := end + int(int8(prog[end-1]))
	if prog[loop] != 0x3E || prog[loop+1] != 0x10 {
		t.Errorf("final JR lands at %#x (% x), not on LD A,0x10", 0x150+loop, prog[loop:loop+2])
	}
}

// gambatteCore finds Debian's gambatte (make testdata): in
// COUCHPLAY_CORES_CACHE, or in the default cache dir.
func gambatteCore(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COUCHPLAY_CORES_CACHE")
	if dir == "" {
		dir = "/var/cache/couchplay-test-cores"
		if _, err := os.Stat(filepath.Join(dir, "gambatte_libretro.so")); err != nil {
			t.Skip("no gambatte core: set COUCHPLAY_CORES_CACHE (make testdata)")
		}
	}
	return filepath.Join(dir, "gambatte_libretro.so")
}

// Gambatte's DMG shades are not quite full scale: its lightest comes out of
// RGB565 as (255,251,255) (0xF8F8F8 truncated to 5/6/5 bits), its darkest
// as black. Accept anything close.
func gbWhite(c color.RGBA) bool { return c.R >= 0xF0 && c.G >= 0xF0 && c.B >= 0xF0 && c.A == 255 }
func gbBlack(c color.RGBA) bool { return c.R <= 0x10 && c.G <= 0x10 && c.B <= 0x10 && c.A == 255 }

// gbUniform reports whether every pixel of p's frame is shade, and else the
// first one that is not.
func gbUniform(p *Process, shade func(color.RGBA) bool) (bool, string) {
	img := p.Frame()
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if got := img.RGBAAt(x, y); !shade(got) {
				return false, fmt.Sprintf("(%d,%d) = %v", x, y, got)
			}
		}
	}
	return true, ""
}

func TestGameBoyOnGambatte(t *testing.T) {
	core := gambatteCore(t)
	rom, err := gbBootCounterROM()
	if err != nil {
		t.Fatal(err)
	}
	romPath := filepath.Join(t.TempDir(), "Boot Counter.gb")
	if err := os.WriteFile(romPath, rom, 0o644); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	srm := filepath.Join(data, "saves", "Boot Counter.srm")
	open := func() *Process {
		t.Helper()
		p, err := Open(Options{Core: core, ROM: romPath, DataDir: data, CoreOptions: DefaultCoreOptions,
			Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		t.Cleanup(func() { p.Close() })
		return p
	}
	// waitFor runs up to 10 frames until the picture is all c.
	waitFor := func(p *Process, shade func(color.RGBA) bool, name, what string) {
		t.Helper()
		var why string
		for i := range 10 {
			p.RunFrame()
			var ok bool
			if ok, why = gbUniform(p, shade); ok {
				t.Logf("%s: all %s after %d frames", what, name, i+1)
				return
			}
		}
		t.Errorf("%s: after 10 frames the picture is not all %s: %s", what, name, why)
	}
	counter := func(boot int) {
		t.Helper()
		saved, err := os.ReadFile(srm)
		if err != nil {
			t.Fatalf("boot %d: %v", boot, err)
		}
		if len(saved) != 8192 || string(saved[:4]) != "CPGB" || int(saved[4]) != boot {
			t.Fatalf("boot %d: save = %d bytes % x, want 8192 bytes CPGB count %d", boot, len(saved), saved[:min(len(saved), 5)], boot)
		}
	}

	p := open()
	info := p.Info()
	if info.Width != 160 || info.Height != 144 || math.Abs(info.FPS-59.7275) > 0.001 || info.SampleRate != 48000 {
		t.Fatalf("info = %+v, want 160x144 at 59.7275 fps, 48 kHz", info)
	}
	waitFor(p, gbBlack, "black", "A released")
	p.SetInput(0, emu.ButtonA)
	waitFor(p, gbWhite, "white", "port 0 holds A")
	p.SetInput(0, 0)
	waitFor(p, gbBlack, "black", "A released again")

	total := 0
	for range 60 {
		p.RunFrame()
		total += len(p.Audio()) / 2
	}
	if want := 48000 * 60 / 59.7275; float64(total) < want*0.97 || float64(total) > want*1.03 {
		t.Errorf("60 frames gave %d stereo samples, want about %.0f", total, want)
	}

	if err := p.SaveState(1); err != nil {
		t.Fatalf("SaveState: %v", err)
	}
	if err := p.LoadState(1); err != nil {
		t.Fatalf("LoadState: %v", err)
	}
	p.RunFrame()
	if err := p.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	counter(1)

	p = open()
	for range 3 {
		p.RunFrame()
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	counter(2)
}
