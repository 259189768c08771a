//go:build (linux || freebsd || openbsd || netbsd) && !android

package app

import (
	"log/slog"

	"github.com/godbus/dbus/v5"
)

// trayAvailable reports whether a tray can work here. On these systems Fyne's tray talks to the
// session D-Bus; without one, fyne.io/systray logs an error and then panics on a nil connection
// when the app quits, so the tray is skipped instead. dbus.SessionBus is a shared connection,
// so the tray reuses this one rather than opening a second.
func trayAvailable() bool {
	if _, err := dbus.SessionBus(); err != nil {
		slog.Info("app: no system tray (no session D-Bus)", "err", err)
		return false
	}
	return true
}
