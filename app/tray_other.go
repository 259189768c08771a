//go:build !((linux || freebsd || openbsd || netbsd) && !android)

package app

// trayAvailable reports whether a tray can work here: elsewhere Fyne's tray needs no D-Bus.
func trayAvailable() bool { return true }
