package libretro

import (
	"image/color"
	"testing"

	"couchplay/emu"
)

// runWith sets port 0's pad, runs two frames (a core may read its joypad before
// it first asks for a stick) and returns the left- and right-half centre pixels.
func runWith(p *Process, b emu.Buttons, a emu.Analog) (left, right color.RGBA) {
	p.SetInput(0, b)
	p.SetAnalog(0, a)
	p.RunFrame()
	p.RunFrame()
	return pixel(p, 40, 72), pixel(p, 120, 72)
}

// The sticks reach a core that reads RETRO_DEVICE_ANALOG through the real
// child, per port and per stick, and are not also pressed as its d-pad.
func TestSticksReachTheCore(t *testing.T) {
	p := openTest(t, game(t, t.TempDir(), "sticks.tst", "mode sticks\nformat xrgb8888\n"), Options{})
	for _, c := range []struct {
		name        string
		buttons     emu.Buttons
		stick       emu.Analog
		left, right color.RGBA
	}{
		{"centred", 0, emu.Analog{}, color.RGBA{128, 128, 0, 255}, color.RGBA{128, 128, 0, 255}},
		{"left stick right and up, right stick left", 0, emu.Analog{LX: 32767, LY: -32768, RX: -32768, RY: 0x1234},
			color.RGBA{255, 0, 0, 255}, color.RGBA{0, 0x92, 0, 255}},
		{"left stick down-left", 0, emu.Analog{LX: -16384, LY: 16384}, color.RGBA{64, 192, 0, 255}, color.RGBA{128, 128, 0, 255}},
		{"d-pad right with the stick centred", emu.ButtonRight, emu.Analog{}, color.RGBA{128, 128, 255, 255}, color.RGBA{128, 128, 255, 255}},
	} {
		if left, right := runWith(p, c.buttons, c.stick); left != c.left || right != c.right {
			t.Errorf("%s: left half %v, right half %v; want %v, %v", c.name, left, right, c.left, c.right)
		}
	}
	// Another port's sticks are not port 0's.
	p.SetAnalog(1, emu.Analog{LX: 32767, LY: 32767, RX: 32767, RY: 32767})
	if left, right := runWith(p, 0, emu.Analog{}); left != (color.RGBA{128, 128, 0, 255}) || right != left {
		t.Errorf("port 1's sticks showed on port 0: %v %v", left, right)
	}
}

// A core that never asks for a stick gets the left stick as its d-pad.
func TestLeftStickIsTheDpadForACoreWithoutSticks(t *testing.T) {
	p := openTest(t, game(t, t.TempDir(), "nosticks.tst", "mode nosticks\nformat xrgb8888\n"), Options{})
	for _, c := range []struct {
		stick emu.Analog
		blue  uint8
	}{
		{emu.Analog{LX: 32767}, 255},
		{emu.Analog{LX: 16383}, 0}, // under half way: no press
		{emu.Analog{LX: 16384, LY: -20000}, 255},
		{emu.Analog{RX: 32767}, 0}, // the right stick is no d-pad
	} {
		left, _ := runWith(p, 0, c.stick)
		if left != (color.RGBA{128, 128, c.blue, 255}) {
			t.Errorf("stick %+v: picture %v, want blue %d (and centred sticks)", c.stick, left, c.blue)
		}
	}
}

func TestPortDevice(t *testing.T) {
	const (
		joypad    = 1
		gamepad   = retroDeviceGamepad
		dualShock = 2<<8 | 5 // beetle-psx: RETRO_DEVICE_SUBCLASS(RETRO_DEVICE_ANALOG, 1)
		mouse     = 2
	)
	for _, c := range []struct {
		listed []uint
		want   uint
	}{
		{nil, gamepad},
		{[]uint{1, gamepad, 513}, gamepad},               // nestopia
		{[]uint{joypad, dualShock, 1<<8 | 5}, dualShock}, // beetle-psx: PlayStation Controller, DualShock, Analog
		{[]uint{joypad, mouse}, joypad},
	} {
		if got := portDevice(c.listed); got != c.want {
			t.Errorf("portDevice(%v) = %#x, want %#x", c.listed, got, c.want)
		}
	}
}
