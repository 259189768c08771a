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
	id, ok, err := b.resolve(rom)
	if !ok || err != nil {
		return nil, ok, err
	}
	return b[id](), true, nil
}

// Game is the library entry of the built-in rom names, as Open judges rom,
// without making its core (the console makes it when it starts the game).
func (b Builtins) Game(rom string) (g Game, ok bool, err error) {
	id, ok, err := b.resolve(rom)
	if !ok || err != nil {
		return Game{}, ok, err
	}
	for _, g := range builtinGames() {
		if g.ID == id {
			return g, true, nil
		}
	}
	return Game{}, true, fmt.Errorf("built-in game %q has no library entry", id)
}

// resolve is the id of the built-in rom names ("" is LightCyclesID); ok and
// err as for Open.
func (b Builtins) resolve(rom string) (id string, ok bool, err error) {
	if rom == "" {
		rom = LightCyclesID
	}
	if _, found := b[rom]; found {
		return rom, true, nil
	}
	if strings.HasPrefix(rom, "builtin:") {
		return "", true, fmt.Errorf("unknown built-in game %q (have %s, %s)", rom, LightCyclesID, TestCardID)
	}
	return "", false, nil
}
