// Package app is couchplay's desktop window and tray, built with Fyne.
//
// It observes and commands the host only through the small Host interface, so
// nothing outside this package imports Fyne and --headless needs no display.
package app

import (
	"context"
	"time"

	"fyne.io/fyne/v2"
	fyneapp "fyne.io/fyne/v2/app"

	"couchplay/assets"
	"couchplay/emu"
	"couchplay/host"
	_ "couchplay/internal/fynelocale" // before Fyne reads the locale
	"couchplay/internal/settings"
)

// appIcon is the project's icon (assets/icon.svg, rendered to PNG).
var appIcon = fyne.NewStaticResource("couchplay.png", assets.Icon)

// appID identifies couchplay to Fyne (preferences, settings, notifications).
const appID = "io.couchplay.couchplay"

// refreshInterval is how often the window re-reads the host's status.
const refreshInterval = time.Second

// Host is what the window shows and commands. The host core implements it;
// its methods may be called from any goroutine and must be cheap.
type Host interface {
	// URLs are the LAN URLs the host serves; the first is the one the QR code encodes,
	// e.g. http://192.168.1.20:8000/ (in code mode with the join key: …/#key=…;
	// the window's text shows them without the key).
	URLs() []string
	// Kick removes the player in slot 1–4 (its page is told, the slot freed).
	Kick(slot int) error
	// MoveToSpectator makes the player in slot 1–4 a spectator (its page
	// goes on watching; the slot is free for someone else).
	MoveToSpectator(slot int) error
	// Status is a snapshot for the window.
	Status() Status
	// Console is the game library and controls; nil hides them.
	Console() *emu.Console
	// Preview is the running game's picture for the window; nil hides it.
	Preview() *emu.Preview
	// Settings is the settings file the Settings screen edits; nil hides the button.
	Settings() *settings.Store
	// Restart asks the host to shut down and start again (reading the saved
	// settings anew) once the window has closed; it returns at once.
	Restart()
}

// Status is a snapshot of the host for the window (host.Status: the host
// core makes it, and fake hosts in tests too).
type Status = host.Status

// Run opens the window and blocks until the user closes it, quits from the
// tray, or ctx ends (SIGINT/SIGTERM).
func Run(ctx context.Context, h Host) error {
	a := fyneapp.NewWithID(appID)
	a.SetIcon(appIcon)
	win := newMainWindow(a, h)
	setupTray(a, win.window, h)

	closed := make(chan struct{})
	defer close(closed)
	go func() {
		select {
		case <-ctx.Done(): // the host is stopping: close the window too
			fyne.Do(a.Quit)
		case <-closed:
		}
	}()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	// Status is read off the UI goroutine (the host may take locks) and the
	// labels are updated through fyne.Do, as Fyne 2.6+ requires.
	go func() {
		ticker := time.NewTicker(refreshInterval)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
				urls, status := h.URLs(), h.Status()
				fyne.Do(func() { win.show(urls, status) })
			}
		}
	}()

	if win.game != nil {
		go win.game.run(ctx)
	}
	win.window.ShowAndRun()
	return nil
}
