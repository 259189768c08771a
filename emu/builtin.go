package emu

import (
	"fmt"
	"strings"
)

// IDs of the built-in cores, for --rom and the library.
const (
	TestCardID    = "builtin:testcard"
	LightCyclesID = "builtin:game"
)

// Builtins makes the cores that run with no ROM, by id. The test card is
// emu's own; the built-in game lives in its own package (emu/lightcycles),
// so the host fills the set in.
type Builtins map[string]func() Core

// Open returns the built-in core named by rom ("" is LightCyclesID). ok is
// false when rom is not a built-in name (a file for a libretro core); err is
// set for a "builtin:" name the set does not have.
func (b Builtins) Open(rom string) (core Core, ok bool, err error) {
	if rom == "" {
		rom = LightCyclesID
	}
	if open, found := b[rom]; found {
		return open(), true, nil
	}
	if strings.HasPrefix(rom, "builtin:") {
		return nil, true, fmt.Errorf("unknown built-in game %q (have %s, %s)", rom, LightCyclesID, TestCardID)
	}
	return nil, false, nil
}
