package main

import (
	"fmt"
	"io"
	"net"
	"strconv"

	"couchplay/internal/settings"
)

// settingsStore is the settings file of the data directory (--data); the
// file itself lives there, so --data always comes from the command line.
func settingsStore(c config) *settings.Store { return settings.New(c.dataDir) }

// applySettings fills in, from the settings file, what the command line did
// not give: a flag beats the file, and the file beats the built-in default.
// A file that cannot be used is one line on stderr and the defaults; it is
// never rewritten here (only the window's Save does that, keeping it as .bad).
func applySettings(c config, store *settings.Store, stderr io.Writer) config {
	s, err := store.Load()
	if err != nil {
		// err names the file and line; s is the defaults.
		fmt.Fprintf(stderr, "couchplay: settings file %v — using defaults; fix it or save settings from the window\n", err)
	}
	return mergeSettings(c, s)
}

// mergeSettings puts s under the flags in c.given. A port from the file is
// not "given" (c.listenGiven stays false), so a double-click whose saved port
// is busy still moves on to the next ports.
func mergeSettings(c config, s settings.Settings) config {
	if !c.given["listen"] {
		c.listen = net.JoinHostPort("", strconv.Itoa(s.Port)) // all interfaces, as the default ":8000"
	}
	if !c.given["access"] {
		c.access = s.Access
	}
	// Folder lists are replaced, not joined: --roms X means "this library",
	// which is what a test or a one-off run wants.
	if !c.given["roms"] {
		c.romDirs = s.ROMDirs
	}
	if !c.given["cores-dir"] {
		c.coresDirs = s.CoreDirs
	}
	if !c.given["no-mdns"] {
		c.noMDNS = !s.MDNS
	}
	if !c.given["https"] {
		c.https = s.HTTPS
	}
	return c
}
