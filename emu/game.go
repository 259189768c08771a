package emu

import (
	"fmt"
	"image"
	"strings"
)

// builtinGame is the pure-Go Light Cycles game as a Core: rules in Cycles,
// drawing in game_draw.go, sound in game_audio.go.
type builtinGame struct {
	rules *Cycles
	input [Ports]Buttons
	img   *image.RGBA
	synth synth
	audio []int16
}

// NewLightCycles returns the built-in 1–4 player Light Cycles game.
func NewLightCycles() Core {
	g := &builtinGame{
		rules: NewCycles(gridW, gridH),
		img:   image.NewRGBA(image.Rect(0, 0, builtinWidth, builtinHeight)),
		synth: newSynth(builtinSampleRate),
		audio: make([]int16, builtinSamples*2),
	}
	drawGame(g.img, g.rules) // a valid picture even before the first frame
	return g
}

func (g *builtinGame) Info() Info {
	return Info{Name: "Light Cycles", Width: builtinWidth, Height: builtinHeight, FPS: builtinFPS, SampleRate: builtinSampleRate}
}

func (g *builtinGame) SetInput(port int, b Buttons) {
	if port >= 0 && port < Ports {
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

// IDs of the built-in cores, for --rom and the library.
const (
	TestCardID    = "builtin:testcard"
	LightCyclesID = "builtin:game"
)

// OpenBuiltin returns the built-in core named by rom: "" or LightCyclesID for the
// Light Cycles game, TestCardID for the test pattern. ok is false when rom
// is not a builtin name (a file for a libretro core); err is set for an unknown
// "builtin:" name.
func OpenBuiltin(rom string) (core Core, ok bool, err error) {
	switch rom {
	case "", LightCyclesID:
		return NewLightCycles(), true, nil
	case TestCardID:
		return NewTestCard(), true, nil
	}
	if strings.HasPrefix(rom, "builtin:") {
		return nil, true, fmt.Errorf("unknown built-in game %q (have %s, %s)", rom, LightCyclesID, TestCardID)
	}
	return nil, false, nil
}
