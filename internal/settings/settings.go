// Package settings keeps the host's settings (port, access mode, ROM and core
// folders, mDNS, HTTPS) in <data>/settings.toml, which the desktop window's
// Settings screen writes. Command-line flags override it (main does the merge).
//
// Nothing here ever writes the file on its own: only Save does, and only the
// window calls it, when the user presses Save. So a file the user broke by
// hand stays as it is until they decide to replace it, and then it is kept
// next to the new one as settings.toml.bad.
package settings

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"

	"couchplay/internal/atomicfile"
)

// filePerm: the settings are the user's own (folders they keep games in).
const filePerm = 0o600

// FileName is the settings file's name inside the data directory.
const FileName = "settings.toml"

// Access modes (the --access values).
const (
	AccessCode = "code"
	AccessOpen = "open"
)

// Settings are what the host reads at start. The zero value is not useful;
// start from Default.
type Settings struct {
	Port     int      `toml:"port"`      // 1–65535; the host listens on all interfaces
	Access   string   `toml:"access"`    // AccessCode or AccessOpen
	ROMDirs  []string `toml:"rom_dirs"`  // game library folders, absolute paths
	CoreDirs []string `toml:"core_dirs"` // extra libretro core folders, absolute paths
	MDNS     bool     `toml:"mdns"`      // advertise couchplay.local on the LAN
	HTTPS    bool     `toml:"https"`     // serve HTTPS with the self-signed certificate
}

// Default is what the host uses without a settings file. It matches the
// command-line defaults (main's tests check that), so a missing file and an
// all-default file behave the same.
func Default() Settings {
	return Settings{Port: 8000, Access: AccessCode, MDNS: true}
}

// Validate refuses what the host could not start with. Folders that do not
// exist are not refused (see MissingDirs).
func (s Settings) Validate() error {
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("port must be a number from 1 to 65535, got %d", s.Port)
	}
	if s.Access != AccessCode && s.Access != AccessOpen {
		return fmt.Errorf("access must be %q or %q, got %q", AccessCode, AccessOpen, s.Access)
	}
	for _, d := range slices.Concat(s.ROMDirs, s.CoreDirs) {
		// A relative folder would depend on where couchplay was started from,
		// which differs between a double-click and a terminal.
		if d = strings.TrimSpace(d); d != "" && !filepath.IsAbs(d) {
			return fmt.Errorf("folder %q must be an absolute path", d)
		}
	}
	return nil
}

// MissingDirs lists the ROM and core folders that are not directories right
// now. They are a warning, not an error: a library on a USB disk that is not
// plugged in is still where the user keeps their games, and the library just
// lists nothing from it until it is back.
func (s Settings) MissingDirs() []string {
	var missing []string
	for _, d := range slices.Concat(s.ROMDirs, s.CoreDirs) {
		if fi, err := os.Stat(d); err != nil || !fi.IsDir() {
			missing = append(missing, d)
		}
	}
	return missing
}

// clean trims folder paths and drops blank and repeated ones, keeping order.
func (s Settings) clean() Settings {
	tidy := func(dirs []string) []string {
		out := []string{} // written as `x = []` so the key shows in the file
		for _, d := range dirs {
			if d = strings.TrimSpace(d); d != "" {
				if d = filepath.Clean(d); !slices.Contains(out, d) {
					out = append(out, d)
				}
			}
		}
		return out
	}
	s.ROMDirs, s.CoreDirs = tidy(s.ROMDirs), tidy(s.CoreDirs)
	return s
}

// LoadError is a settings file that cannot be used: it names the file and,
// when known, the line, as editors and compilers do ("…/settings.toml:3: …").
type LoadError struct {
	Path string
	Line int // 1-based; 0 when not known
	Err  error
}

func (e *LoadError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.Path, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Path, e.Err)
}

func (e *LoadError) Unwrap() error { return e.Err }

// Store reads and writes one data directory's settings file. It is safe for
// concurrent use.
type Store struct {
	dir string
	mu  sync.Mutex // one Save at a time, so temp files and .bad do not race
}

// New is the store for the data directory (--data). It touches no file.
func New(dataDir string) *Store { return &Store{dir: dataDir} }

// Path is the settings file: <data>/settings.toml.
func (st *Store) Path() string { return filepath.Join(st.dir, FileName) }

// BadPath is where Save keeps a malformed file it replaces.
func (st *Store) BadPath() string { return st.Path() + ".bad" }

// Load reads the settings. A missing file is Default() and no error. A file
// that cannot be used is Default() and a *LoadError; the file is left alone.
// Keys it does not know are ignored, so a file written by a newer couchplay
// still loads (Save does not keep them).
func (st *Store) Load() (Settings, error) {
	data, err := os.ReadFile(st.Path())
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil
	}
	if err != nil {
		return Default(), &LoadError{Path: st.Path(), Err: err}
	}
	s, lerr := parse(data)
	if lerr != nil {
		lerr.Path = st.Path()
		return Default(), lerr
	}
	return s, nil
}

// keys are the file's keys with the field each fills and what a user must
// write there (for a message better than a Go type name).
func keys(s *Settings) []struct {
	name, want string
	dst        any
} {
	return []struct {
		name, want string
		dst        any
	}{
		{"port", "a whole number", &s.Port},
		{"access", `"code" or "open"`, &s.Access},
		{"rom_dirs", `a list of folder paths, like ["/home/me/roms"]`, &s.ROMDirs},
		{"core_dirs", `a list of folder paths, like ["/home/me/cores"]`, &s.CoreDirs},
		{"mdns", "true or false", &s.MDNS},
		{"https", "true or false", &s.HTTPS},
	}
}

// parse decodes and validates a settings file over the defaults, so a file
// that names only some keys keeps the defaults for the others. Path is left
// for the caller to fill.
func parse(data []byte) (Settings, *LoadError) {
	// Each key is decoded on its own from a Primitive so that a wrong type
	// names the key and its line (a struct decode reports those only inside
	// its message text).
	var raw map[string]toml.Primitive
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Settings{}, &LoadError{Line: pe.Position.Line, Err: errors.New(pe.Message)}
		}
		return Settings{}, &LoadError{Err: err}
	}
	s := Default()
	for _, k := range keys(&s) {
		p, ok := raw[k.name]
		if !ok {
			continue
		}
		if err := md.PrimitiveDecode(p, k.dst); err != nil {
			return Settings{}, &LoadError{Line: keyLine(data, k.name), Err: fmt.Errorf("%s must be %s", k.name, k.want)}
		}
	}
	if err := s.Validate(); err != nil {
		return Settings{}, &LoadError{Line: keyLine(data, badKey(s)), Err: err}
	}
	// An empty list loads as nil, as in Default, so Load(Save(Default())) is Default.
	if len(s.ROMDirs) == 0 {
		s.ROMDirs = nil
	}
	if len(s.CoreDirs) == 0 {
		s.CoreDirs = nil
	}
	return s, nil
}

// badKey is the key Validate complained about, to find its line.
func badKey(s Settings) string {
	switch {
	case s.Port < 1 || s.Port > 65535:
		return "port"
	case s.Access != AccessCode && s.Access != AccessOpen:
		return "access"
	case slices.ContainsFunc(s.ROMDirs, func(d string) bool { return strings.TrimSpace(d) != "" && !filepath.IsAbs(strings.TrimSpace(d)) }):
		return "rom_dirs"
	default:
		return "core_dirs"
	}
}

// keyLine is the 1-based line that sets a top-level key, 0 if none does.
// The file is flat, so the first `key =` at the start of a line is the one.
func keyLine(data []byte, key string) int {
	re := regexp.MustCompile(`^\s*(` + regexp.QuoteMeta(key) + `|"` + regexp.QuoteMeta(key) + `")\s*=`)
	for i, line := range bytes.Split(data, []byte("\n")) {
		if re.Match(line) {
			return i + 1
		}
	}
	return 0
}

const header = `# couchplay settings, written by the Settings window.
# Command-line flags (--listen, --access, --roms, --cores-dir, --no-mdns, --https)
# override what is here. Changes apply the next time couchplay starts.

`

// Save validates s and writes it atomically (a temp file, fsync, rename), so
// a crash leaves the old file or the new one, never half of one. If the file
// it replaces cannot be loaded (the user broke it by hand), that file is kept
// as settings.toml.bad first (replacing an older .bad). An invalid s is
// refused and nothing is written. Missing folders are not an error; see
// MissingDirs.
func (st *Store) Save(s Settings) error {
	if err := s.Validate(); err != nil {
		return err
	}
	var buf bytes.Buffer
	buf.WriteString(header)
	if err := toml.NewEncoder(&buf).Encode(s.clean()); err != nil {
		return fmt.Errorf("cannot encode settings: %w", err)
	}

	st.mu.Lock()
	defer st.mu.Unlock()
	if err := os.MkdirAll(st.dir, 0o700); err != nil {
		return fmt.Errorf("cannot create %s: %w", st.dir, err)
	}
	old, err := os.ReadFile(st.Path())
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		// Unreadable is not the same as broken: replacing it could lose it.
		return fmt.Errorf("cannot read %s to replace it: %w", st.Path(), err)
	default:
		if _, perr := parse(old); perr != nil {
			// Written before the new file, so the broken one always exists
			// under one of the two names.
			if err := atomicfile.Write(st.BadPath(), old, filePerm); err != nil {
				return fmt.Errorf("cannot keep the old settings as %s: %w", st.BadPath(), err)
			}
		}
	}
	if err := atomicfile.Write(st.Path(), buf.Bytes(), filePerm); err != nil {
		return fmt.Errorf("cannot save settings to %s: %w", st.Path(), err)
	}
	return nil
}
