package app

import (
	"fmt"
	"strconv"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/widget"

	"couchplay/emu"
)

// libraryPanel is the window's game library and console controls: what
// player 1 can do from a page, for whoever sits at the host.
type libraryPanel struct {
	console *emu.Console
	games   []emu.Game
	list    *widget.List
	slot    *widget.Select
	result  *widget.Label // the last command's outcome
	content fyne.CanvasObject
	ran     func() // tests: called on the UI goroutine after a command's outcome is shown
}

func newLibraryPanel(c *emu.Console) *libraryPanel {
	p := &libraryPanel{console: c, result: widget.NewLabel("")}
	p.result.Wrapping = fyne.TextWrapWord
	p.list = widget.NewList(
		func() int { return len(p.games) },
		func() fyne.CanvasObject {
			name := widget.NewLabel("")
			name.Truncation = fyne.TextTruncateEllipsis
			return container.NewBorder(nil, nil, nil, widget.NewButton("Play", nil), name)
		},
		func(i widget.ListItemID, o fyne.CanvasObject) {
			row := o.(*fyne.Container)
			name, play := row.Objects[0].(*widget.Label), row.Objects[1].(*widget.Button)
			g := p.games[i]
			name.SetText(gameLine(g))
			play.OnTapped = func() { p.run(func() error { return c.Play(g.ID) }, "Started "+g.Name) }
			if g.Problem != "" {
				play.Disable()
			} else {
				play.Enable()
			}
		},
	)
	slots := make([]string, 9)
	for i := range slots {
		slots[i] = strconv.Itoa(i + 1)
	}
	p.slot = widget.NewSelect(slots, nil)
	p.slot.SetSelected("1")
	controls := container.NewHBox(
		widget.NewButton("Stop", func() { p.run(c.Stop, "Stopped") }),
		widget.NewButton("Reset", func() { p.run(c.Reset, "Reset") }),
		widget.NewLabel("State"), p.slot,
		widget.NewButton("Save", func() {
			n := p.stateSlot()
			p.run(func() error { return c.SaveState(n) }, fmt.Sprintf("Saved state %d", n))
		}),
		widget.NewButton("Load", func() {
			n := p.stateSlot()
			p.run(func() error { return c.LoadState(n) }, fmt.Sprintf("Loaded state %d", n))
		}),
	)
	p.content = container.NewBorder(widget.NewLabel("Games"), container.NewVBox(controls, p.result), nil, nil, p.list)
	p.reload()
	return p
}

// gameLine is a library row: the name and what runs it, or why nothing can.
func gameLine(g emu.Game) string {
	if g.Problem != "" {
		return g.Name + " — " + g.Problem
	}
	if g.System != "" {
		return g.Name + " — " + g.System + " · " + g.Core
	}
	return g.Name + " — " + g.Core
}

func (p *libraryPanel) stateSlot() int {
	n, _ := strconv.Atoi(p.slot.Selected)
	return n
}

// reload re-reads the library (ROM folders may have changed).
func (p *libraryPanel) reload() {
	p.games = p.console.Games()
	p.list.Refresh()
}

// run does a console command off the UI goroutine (starting a core takes a
// moment) and shows how it went.
func (p *libraryPanel) run(cmd func() error, done string) {
	p.result.SetText("…")
	go func() {
		err := cmd()
		fyne.Do(func() {
			if err != nil {
				p.result.SetText(err.Error())
			} else {
				p.result.SetText(done)
			}
			if p.ran != nil {
				p.ran()
			}
		})
	}()
}
