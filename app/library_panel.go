package app

import (
	"fmt"
	"strconv"
	"sync/atomic"

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

	loads atomic.Uint64 // numbers each load of the library
	shown uint64        // the newest load shown (UI goroutine)
}

// Test hooks: libraryLoaded is called on the UI goroutine after a load of
// the library is shown; loadInline runs loads on the caller's goroutine (the
// test driver runs fyne.Do inline, so a load of its own would race the
// test's widgets).
var (
	libraryLoaded atomic.Pointer[func(*libraryPanel)]
	loadInline    atomic.Bool
)

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
	slots := make([]string, emu.StateSlots)
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
		widget.NewButton("Rescan", func() { p.load(c.Rescan) }),
	)
	p.content = container.NewBorder(widget.NewLabel("Games"), container.NewVBox(controls, p.result), nil, nil, p.list)
	p.reload()
	return p
}

// gameLine is a library row: the name and what runs it, or why nothing can
// (with the host's paths: this is the host's own window).
func gameLine(g emu.Game) string {
	switch {
	case g.Detail != "":
		return g.Name + " — " + g.Detail
	case g.Problem != "":
		return g.Name + " — " + g.Problem
	}
	core := g.Core
	if g.CoreWhy != "" {
		core += " (" + g.CoreWhy + ")"
	}
	if g.Hint != "" {
		core += "; " + g.Hint
	}
	if g.System != "" {
		return g.Name + " — " + g.System + " · " + core
	}
	return g.Name + " — " + core
}

func (p *libraryPanel) stateSlot() int {
	n, _ := strconv.Atoi(p.slot.Selected)
	return n
}

// reload re-reads the library (ROM folders may have changed). The scan runs
// off the UI goroutine: a first scan opens every zip and probes every core
// in a child process.
func (p *libraryPanel) reload() { p.load(p.console.Games) }

// load shows the list games returns, once it has it; of loads that overlap,
// the one started last wins.
func (p *libraryPanel) load(games func() []emu.Game) {
	n := p.loads.Add(1)
	do := func() {
		list := games()
		fyne.Do(func() {
			if n < p.shown {
				return
			}
			p.shown = n
			p.games = list
			p.list.Refresh()
			if hook := libraryLoaded.Load(); hook != nil {
				(*hook)(p)
			}
		})
	}
	if loadInline.Load() {
		do()
		return
	}
	go do()
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
