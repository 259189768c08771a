package app

import (
	"fmt"
	"image/color"
	"log/slog"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"couchplay/emu"
)

// playerColours are the players' colours, the same as the badges on the
// phones' pads (PLAYER_COLOURS in assets/page.js), so "the blue one" means
// the same person on the TV and in every hand.
var playerColours = [emu.Ports]color.NRGBA{
	{0x1e, 0x88, 0xe5, 0xff}, // 1 blue
	{0xe5, 0x39, 0x35, 0xff}, // 2 red
	{0x43, 0xa0, 0x47, 0xff}, // 3 green
	{0xfd, 0xd8, 0x35, 0xff}, // 4 yellow
}

// swatchSize is the colour mark beside each player's name.
const swatchSize = 18

// slotState is what one player slot is doing, as the window says it.
type slotState int

const (
	slotFree     slotState = iota
	slotPlaying            // a page holds it and is connected
	slotReserved           // its page dropped; the slot waits for it (room.ReserveFor)
)

// playersPanel lists players 1–4 (colour, playing, reserved or free) with
// Kick and Watch (move to spectator) buttons, and the spectators.
type playersPanel struct {
	content    fyne.CanvasObject
	labels     [emu.Ports]*widget.Label
	kicks      [emu.Ports]*widget.Button
	watches    [emu.Ports]*widget.Button
	spectators *widget.Label
}

func newPlayersPanel(h Host) *playersPanel {
	p := &playersPanel{spectators: widget.NewLabel("")}
	rows := container.NewGridWithColumns(2)
	for i := range p.labels {
		slot := i + 1
		swatch := canvas.NewRectangle(playerColours[i])
		swatch.CornerRadius = swatchSize / 4
		swatch.SetMinSize(fyne.NewSize(swatchSize, swatchSize))
		p.labels[i] = widget.NewLabel("")
		// The host takes its locks off the UI goroutine.
		p.kicks[i] = widget.NewButton("Kick", func() {
			go hostCommand("kick", slot, h.Kick)
		})
		p.watches[i] = widget.NewButton("Watch", func() {
			go hostCommand("move to spectator", slot, h.MoveToSpectator)
		})
		buttons := container.NewHBox(p.watches[i], p.kicks[i])
		rows.Add(container.NewBorder(nil, nil, container.NewCenter(swatch), buttons, p.labels[i]))
	}
	p.content = container.NewVBox(rows, p.spectators)
	p.show(Status{})
	return p
}

func hostCommand(what string, slot int, do func(int) error) {
	if err := do(slot); err != nil {
		slog.Warn("app: host command failed", "command", what, "slot", slot, "err", err)
	}
}

// stateOf is slot's state in s.
func stateOf(s Status, slot int) slotState {
	switch {
	case slices.Contains(s.Reserved, slot):
		return slotReserved
	case slices.Contains(s.Players, slot):
		return slotPlaying
	}
	return slotFree
}

// slotText is a slot's line in the window.
func slotText(slot int, st slotState) string {
	switch st {
	case slotPlaying:
		return fmt.Sprintf("Player %d: playing", slot)
	case slotReserved:
		return fmt.Sprintf("Player %d: reserved (reconnecting)", slot)
	}
	return fmt.Sprintf("Player %d: free", slot)
}

// show updates the rows; it runs on the Fyne UI goroutine.
func (p *playersPanel) show(s Status) {
	for i := range p.labels {
		slot := i + 1
		st := stateOf(s, slot)
		text := slotText(slot, st)
		if st == slotPlaying && slices.Contains(s.SocketMedia, slot) {
			text += " (over the WebSocket: no WebRTC)"
		}
		if p.labels[i].Text != text {
			p.labels[i].SetText(text)
		}
		// A reserved slot can be kicked (free it for someone else now) but
		// not moved: there is no page to go on watching.
		setEnabled(p.kicks[i], st != slotFree)
		setEnabled(p.watches[i], st == slotPlaying)
	}
	text := fmt.Sprintf("Spectators: %d", s.Spectators)
	if p.spectators.Text != text {
		p.spectators.SetText(text)
	}
}

func setEnabled(b *widget.Button, on bool) {
	if on && b.Disabled() {
		b.Enable()
	} else if !on && !b.Disabled() {
		b.Disable()
	}
}
