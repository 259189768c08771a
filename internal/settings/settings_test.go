package settings

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestMissingFileIsDefaults(t *testing.T) {
	st := New(filepath.Join(t.TempDir(), "not-yet"))
	s, err := st.Load()
	if err != nil || !reflect.DeepEqual(s, Default()) {
		t.Fatalf("Load of a missing file = %+v, %v; want defaults, nil", s, err)
	}
	if _, err := os.Stat(st.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("Load created the file")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	st := New(filepath.Join(dir, "data")) // Save creates the data directory
	if st.Path() != filepath.Join(dir, "data", "settings.toml") {
		t.Fatalf("Path = %s", st.Path())
	}
	roms := t.TempDir()
	want := Settings{Port: 9123, Access: AccessOpen, ROMDirs: []string{roms, "/media/usb/roms"},
		MDNS: false, HTTPS: true} // no core dirs: written as [], loaded as nil
	in := want
	in.ROMDirs = []string{" " + roms + "/ ", "", roms, "/media/usb/roms"} // trimmed, cleaned, deduplicated
	if err := st.Save(in); err != nil {
		t.Fatal(err)
	}
	got, err := st.Load()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Load = %+v, %v; want %+v", got, err, want)
	}
	data, _ := os.ReadFile(st.Path())
	for _, line := range []string{"port = 9123", `access = "open"`, "https = true", "mdns = false", "core_dirs = []"} {
		if !strings.Contains(string(data), line+"\n") {
			t.Errorf("file lacks %q:\n%s", line, data)
		}
	}
	if !strings.HasPrefix(string(data), "# couchplay settings") {
		t.Errorf("file has no header comment:\n%s", data)
	}
	if fi, _ := os.Stat(st.Path()); fi.Mode().Perm()&0o077 != 0 && os.PathSeparator == '/' {
		t.Errorf("file mode %v, want private", fi.Mode())
	}
	if got := want.MissingDirs(); !reflect.DeepEqual(got, []string{"/media/usb/roms"}) {
		t.Errorf("MissingDirs = %v", got)
	}
	entries, _ := os.ReadDir(filepath.Dir(st.Path()))
	if len(entries) != 1 {
		t.Errorf("data dir holds %d entries (a temp file left?), want 1", len(entries))
	}
	if _, err := os.Stat(st.BadPath()); !errors.Is(err, os.ErrNotExist) {
		t.Error("a .bad file was written for a good old file")
	}
}

// A file with only some keys keeps the defaults for the rest; keys from a
// newer version are ignored.
func TestPartialFileAndUnknownKeys(t *testing.T) {
	st := New(t.TempDir())
	os.WriteFile(st.Path(), []byte("# mine\nport = 8080\nfuture_key = 1\n[future_table]\nx = 2\n"), 0o600)
	s, err := st.Load()
	want := Default()
	want.Port = 8080
	if err != nil || !reflect.DeepEqual(s, want) {
		t.Fatalf("Load = %+v, %v; want %+v", s, err, want)
	}
}

func TestSaveRefusesInvalid(t *testing.T) {
	for _, s := range []Settings{
		{Port: 0, Access: AccessCode},
		{Port: 65536, Access: AccessCode},
		{Port: 8000, Access: "everyone"},
		{Port: 8000, Access: AccessOpen, ROMDirs: []string{"roms"}},
	} {
		st := New(t.TempDir())
		if err := st.Save(s); err == nil {
			t.Errorf("Save(%+v) = nil, want an error", s)
		}
		if _, err := os.Stat(st.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("Save(%+v) wrote the file", s)
		}
	}
}

// A file that cannot be used is an error naming the file and the line, with
// the defaults, and it stays untouched.
func TestMalformedFile(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"port = 8000\n\naccess = open\n", ":3: "},                           // syntax: a bare word
		{"port = 8000\nport = 9000\n", ":2: "},                               // repeated key
		{"# c\nport = \"eighty\"\n", ":2: port must be a whole number"},      // wrong type
		{"mdns = true\n\n\nrom_dirs = [1]\n", ":4: rom_dirs must be a list"}, // wrong element type
		{"access = \"code\"\nport = 70000\n", ":2: port must be a number from 1 to 65535"},
		{"access = \"all\"\n", ":1: access must be"},
		{"core_dirs = [\"cores\"]\n", ":1: folder \"cores\" must be an absolute path"},
	} {
		st := New(t.TempDir())
		os.WriteFile(st.Path(), []byte(tc.text), 0o600)
		s, err := st.Load()
		var le *LoadError
		if !errors.As(err, &le) || !strings.HasPrefix(err.Error(), st.Path()+tc.want) {
			t.Errorf("Load(%q) error = %v, want %s%s…", tc.text, err, st.Path(), tc.want)
		}
		if !reflect.DeepEqual(s, Default()) {
			t.Errorf("Load(%q) = %+v, want defaults", tc.text, s)
		}
		if data, _ := os.ReadFile(st.Path()); string(data) != tc.text {
			t.Errorf("Load changed the file")
		}
	}
}

// Saving over a broken file keeps it as settings.toml.bad.
func TestSaveKeepsBrokenFile(t *testing.T) {
	st := New(t.TempDir())
	broken := "port = 8000\naccess = open\n# my notes\n"
	os.WriteFile(st.Path(), []byte(broken), 0o600)
	want := Default()
	want.Port = 8001
	if err := st.Save(want); err != nil {
		t.Fatal(err)
	}
	if data, err := os.ReadFile(st.BadPath()); err != nil || string(data) != broken {
		t.Fatalf("%s = %q, %v; want the broken file", st.BadPath(), data, err)
	}
	if got, err := st.Load(); err != nil || got.Port != 8001 {
		t.Fatalf("Load after Save = %+v, %v", got, err)
	}
	// Saving again over the now good file leaves the .bad alone.
	want.Port = 8002
	if err := st.Save(want); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(st.BadPath()); string(data) != broken {
		t.Error("a save over a good file replaced the .bad")
	}
}

func TestLoadErrorFormat(t *testing.T) {
	e := &LoadError{Path: "/d/settings.toml", Err: errors.New("boom")}
	if e.Error() != "/d/settings.toml: boom" {
		t.Error(e.Error())
	}
	e.Line = 3
	if e.Error() != "/d/settings.toml:3: boom" || !errors.Is(e, e.Err) {
		t.Error(e.Error())
	}
}
