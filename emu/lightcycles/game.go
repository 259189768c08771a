// Package lightcycles is couchplay's built-in game: Light Cycles for 1-4
// players in pure Go (rules, drawing, sound), so a fresh install has
// something to play with no ROM and no core. It is an emu.Core; the host
// opens it as emu.LightCyclesID.
package lightcycles

import (
	"couchplay/emu"
	"image"
)

// Output format: the same as the test card's (emu/testcard.go), so a switch
// between the two built-ins never resizes the stream.
const (
	builtinWidth      = 256
	builtinHeight     = 240
	builtinFPS        = 60
	builtinSampleRate = 48000
	// builtinSamples is the number of stereo samples per frame (48000/60).
	builtinSamples = builtinSampleRate / builtinFPS
)

// builtinGame is the pure-Go Light Cycles game as a Core: rules in Cycles,
// drawing in game_draw.go, sound in game_audio.go.
type builtinGame struct {
	rules *Cycles
	input [emu.Ports]emu.Buttons
	img   *image.RGBA
	synth synth
	audio []int16
}

// New returns the built-in 1–4 player Light Cycles game (emu.LightCyclesID).
func New() emu.Core {
	g := &builtinGame{
		rules: NewCycles(gridW, gridH),
		img:   image.NewRGBA(image.Rect(0, 0, builtinWidth, builtinHeight)),
		synth: newSynth(builtinSampleRate),
		audio: make([]int16, builtinSamples*2),
	}
	drawGame(g.img, g.rules) // a valid picture even before the first frame
	return g
}

func (g *builtinGame) Info() emu.Info {
	return emu.Info{Name: "Light Cycles", Width: builtinWidth, Height: builtinHeight, FPS: builtinFPS, SampleRate: builtinSampleRate}
}

func (g *builtinGame) SetInput(port int, b emu.Buttons) {
	if port >= 0 && port < emu.Ports {
		g.input[port] = b
	}
}

func (g *builtinGame) RunFrame() {
	ev := g.rules.Update(g.input)
	g.synth.soundEvents(ev, g.rules)
	g.synth.render(g.audio)
	drawGame(g.img, g.rules)
}

func (g *builtinGame) Frame() *image.RGBA { return g.img }
func (g *builtinGame) Audio() []int16     { return g.audio }
func (g *builtinGame) Close() error       { return nil }
