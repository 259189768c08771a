// Package fynelocale works around Fyne reading the locale in its package init:
// with LANG=C.UTF-8 (Debian's default for root, containers, CI) Fyne logs three
// lines of "Error parsing user locale C" at every start, even headless, which
// breaks couchplay's one-line error contract. When the locale is plain C/POSIX,
// it sets LANGUAGE=en, the language C means.
//
// It must initialize before fyne.io/fyne/v2/lang: Go initializes ready packages
// in import-path order, and "couchplay/…" sorts before "fyne.io/…", so importing
// it from any couchplay package is enough.
package fynelocale

import (
	"os"
	"strings"
)

func init() {
	if os.Getenv("LANGUAGE") != "" {
		return
	}
	for _, name := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		value := os.Getenv(name)
		if value == "" {
			continue
		}
		if value == "C" || value == "POSIX" || strings.HasPrefix(value, "C.") || strings.HasPrefix(value, "POSIX.") {
			os.Setenv("LANGUAGE", "en")
		}
		return
	}
}
