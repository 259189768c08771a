// Package emu holds the emulator side of couchplay: the Core interface every game
// source implements (built-in game, test card, libretro cores in emu/libretro) and the
// frame loop that drives a core at its own frame rate.
package emu

import "image"

// Ports is the number of controller ports; player slot N drives port N-1.
const Ports = 4

// StateSlots is the number of save-state slots, numbered 1..StateSlots (the
// page's and the window's choices, the protocol's stateSlot, the files
// states/<name>.stateN). page.js's STATE_SLOTS says the same.
const StateSlots = 9

// Buttons is the full state of one pad, one bit per button. The bit numbers are
// libretro's RETRO_DEVICE_ID_JOYPAD_* ids, so a libretro frontend can pass them
// through unchanged, and the web client sends the same bits on the wire.
type Buttons uint16

// Button bits (libretro joypad ids).
const (
	ButtonB Buttons = 1 << iota
	ButtonY
	ButtonSelect
	ButtonStart
	ButtonUp
	ButtonDown
	ButtonLeft
	ButtonRight
	ButtonA
	ButtonX
	ButtonL
	ButtonR
	ButtonL2
	ButtonR2
	ButtonL3
	ButtonR3
)

// Analog is the state of one pad's two sticks in libretro's RETRO_DEVICE_ANALOG
// range: -32768..32767, negative = left or up, 0 = centred.
type Analog struct {
	LX, LY, RX, RY int16
}

// stickThreshold is how far the left stick must lean to count as a d-pad
// direction for a game that does not read sticks (half way, as the page did).
const stickThreshold = 16384

// Dpad is the left stick as d-pad directions, for games that read no sticks.
func (a Analog) Dpad() Buttons {
	var b Buttons
	switch {
	case a.LX <= -stickThreshold:
		b |= ButtonLeft
	case a.LX >= stickThreshold:
		b |= ButtonRight
	}
	switch {
	case a.LY <= -stickThreshold:
		b |= ButtonUp
	case a.LY >= stickThreshold:
		b |= ButtonDown
	}
	return b
}

// Info describes a loaded game's output.
type Info struct {
	Name       string // shown in the page and the window
	Width      int    // native frame size in pixels
	Height     int
	FPS        float64 // frames per second the core wants to be run at
	SampleRate int     // audio sample rate in Hz (stereo, interleaved int16); the stream takes 48000
}

// Core is one running game. RunFrame, SetInput, Frame and Audio are called from
// the frame loop goroutine only; a Core need not be safe for concurrent use.
type Core interface {
	Info() Info
	// SetInput sets the full button state of port 0..Ports-1 for the next RunFrame.
	SetInput(port int, b Buttons)
	// RunFrame emulates exactly one frame.
	RunFrame()
	// Frame returns the picture of the last RunFrame. The image is owned by the
	// core and valid until the next RunFrame.
	Frame() *image.RGBA
	// Audio returns the stereo interleaved samples produced by the last RunFrame,
	// owned by the core and valid until the next RunFrame.
	Audio() []int16
	Close() error
}

// AnalogCore is a Core that reads analog sticks (libretro cores). The loop gives
// it the sticks as they are; a Core without it gets the left stick folded into
// its d-pad instead.
type AnalogCore interface {
	// SetAnalog sets the sticks of port 0..Ports-1 for the next RunFrame.
	SetAnalog(port int, a Analog)
}
