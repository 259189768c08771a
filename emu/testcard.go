package emu

import (
	"image"
	"math"
)

// Test card output format: the same as the built-in game.
const (
	builtinWidth      = 256
	builtinHeight     = 240
	builtinFPS        = 60
	builtinSampleRate = 48000
	// builtinSamples is the number of stereo samples per frame (48000/60).
	builtinSamples = builtinSampleRate / builtinFPS
)

const (
	testcardToneHz = 440
	// testcardToneAmp is ~0.3 of full scale: loud enough to detect, not to hurt.
	testcardToneAmp = 0.3 * math.MaxInt16
)

// testcardColours[port] is the colour shown while that port holds A (port 0 is white).
var testcardColours = [Ports][3]uint8{
	{255, 255, 255},
	{255, 0, 0},
	{0, 255, 0},
	{0, 0, 255},
}

// testCard is the fixed pattern outside tests rely on (DESIGN §2 builtin:testcard):
// black and silent; port 0's A: white + 440 Hz; else port 1/2/3's A: red/green/blue.
type testCard struct {
	input [Ports]Buttons
	img   *image.RGBA
	audio []int16
	// phase of the tone in cycles [0,1); kept across frames so the tone is continuous.
	phase  float64
	toneOn bool
}

// NewTestCard returns the builtin:testcard core.
func NewTestCard() Core {
	return &testCard{
		img:   image.NewRGBA(image.Rect(0, 0, builtinWidth, builtinHeight)),
		audio: make([]int16, builtinSamples*2),
	}
}

func (t *testCard) Info() Info {
	return Info{Name: "Test Card", Width: builtinWidth, Height: builtinHeight, FPS: builtinFPS, SampleRate: builtinSampleRate}
}

func (t *testCard) SetInput(port int, b Buttons) {
	if port >= 0 && port < Ports {
		t.input[port] = b
	}
}

// activePort returns the port whose colour shows, by priority 0..3, or -1 for black.
func (t *testCard) activePort() int {
	for p := range Ports {
		if t.input[p]&ButtonA != 0 {
			return p
		}
	}
	return -1
}

func (t *testCard) RunFrame() {
	port := t.activePort()
	var rgb [3]uint8
	if port >= 0 {
		rgb = testcardColours[port]
	}
	fillRGBA(t.img, rgb[0], rgb[1], rgb[2])

	tone := port == 0
	if tone && !t.toneOn {
		t.phase = 0 // start each tone at a zero crossing so its onset does not click
	}
	t.toneOn = tone
	if !tone {
		clear(t.audio)
		return
	}
	const step = float64(testcardToneHz) / builtinSampleRate
	for i := 0; i < len(t.audio); i += 2 {
		s := int16(testcardToneAmp * math.Sin(2*math.Pi*t.phase))
		t.audio[i], t.audio[i+1] = s, s
		t.phase += step
		if t.phase >= 1 {
			t.phase--
		}
	}
}

func (t *testCard) Frame() *image.RGBA { return t.img }
func (t *testCard) Audio() []int16     { return t.audio }
func (t *testCard) Close() error       { return nil }

// fillRGBA paints the whole image one opaque colour without allocating.
func fillRGBA(img *image.RGBA, r, g, b uint8) {
	pix := img.Pix
	if len(pix) < 4 {
		return
	}
	pix[0], pix[1], pix[2], pix[3] = r, g, b, 255
	// Doubling copy: fast and allocation-free.
	for n := 4; n < len(pix); n *= 2 {
		copy(pix[n:], pix[:n])
	}
}
