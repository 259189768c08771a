package main

import (
	"bufio"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"couchplay/internal/settings"
)

// With no settings file the host is exactly what the flags' defaults say.
func TestSettingsDefaultsMatchFlagDefaults(t *testing.T) {
	c, err := parseFlags([]string{"--data", t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := mergeSettings(c, settings.Default()); !reflect.DeepEqual(got, c) {
		t.Fatalf("defaults changed the config:\n got %+v\nwant %+v", got, c)
	}
}

func TestSettingsUnderFlags(t *testing.T) {
	data, roms, cores := t.TempDir(), t.TempDir(), t.TempDir()
	store := settings.New(data)
	saved := settings.Settings{Port: 9123, Access: "open", ROMDirs: []string{roms}, CoreDirs: []string{cores}, MDNS: false, HTTPS: true}
	if err := store.Save(saved); err != nil {
		t.Fatal(err)
	}

	// Nothing on the command line: the file decides.
	c, err := parseFlags([]string{"--data", data})
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	c = applySettings(c, settingsStore(c), &stderr)
	if stderr.Len() != 0 {
		t.Errorf("stderr %q for a good file", stderr.String())
	}
	if c.listen != ":9123" || c.access != "open" || !reflect.DeepEqual(c.romDirs, []string{roms}) ||
		!reflect.DeepEqual(c.coresDirs, []string{cores}) || !c.noMDNS || !c.https {
		t.Errorf("from the file: %+v", c)
	}
	// The saved port is not --listen: a double-click with it busy moves on.
	if c.listenGiven || nextPorts(c) == 0 {
		t.Errorf("a port from the file counts as given (nextPorts %d)", nextPorts(c))
	}

	// Every flag given: the flags decide.
	other := t.TempDir()
	c, err = parseFlags([]string{"--data", data, "--listen", "127.0.0.1:0", "--access", "code",
		"--roms", other, "--cores-dir", other, "--no-mdns=false", "--https=false"})
	if err != nil {
		t.Fatal(err)
	}
	c = applySettings(c, settingsStore(c), &stderr)
	if c.listen != "127.0.0.1:0" || c.access != "code" || !reflect.DeepEqual(c.romDirs, []string{other}) ||
		!reflect.DeepEqual(c.coresDirs, []string{other}) || c.noMDNS || c.https || !c.listenGiven {
		t.Errorf("flags over the file: %+v", c)
	}
}

// A broken file: one line on stderr naming file and line, the defaults, and
// the file left as it was.
func TestMalformedSettingsFileIsOneLine(t *testing.T) {
	data := t.TempDir()
	path := filepath.Join(data, settings.FileName)
	broken := "port = 9000\n\naccess = open\n"
	os.WriteFile(path, []byte(broken), 0o600)
	c, err := parseFlags([]string{"--data", data})
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	got := applySettings(c, settingsStore(c), &stderr)
	want := "couchplay: settings file " + path + ":3: "
	lines := strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], want) ||
		!strings.HasSuffix(lines[0], " — using defaults; fix it or save settings from the window") {
		t.Errorf("stderr %q, want one line starting %q", stderr.String(), want)
	}
	if !reflect.DeepEqual(got, mergeSettings(c, settings.Default())) {
		t.Errorf("config %+v, want the defaults", got)
	}
	if b, _ := os.ReadFile(path); string(b) != broken {
		t.Error("the broken file was changed")
	}
	if _, err := os.Stat(path + ".bad"); err == nil {
		t.Error("a .bad file was written without a save")
	}

	// The real program: the settings line, then it goes on (here to the
	// missing ROM's one line and exit 1).
	code, out := runOnce(t, "--headless", "--no-mdns", "--listen", "127.0.0.1:0", "--data", data, "--rom", "/nonexistent/game.nes")
	if code == 0 || len(out) != 2 || !strings.HasPrefix(out[0], want) || !strings.Contains(out[1], "/nonexistent/game.nes") {
		t.Fatalf("exit %d, stderr %q; want the settings line, then the ROM's", code, out)
	}
}

// The real program reads the file: access = "open" there serves with no room code.
func TestRunUsesSettingsFile(t *testing.T) {
	data := t.TempDir()
	s := settings.Default()
	s.Access = "open"
	if err := settings.New(data).Save(s); err != nil {
		t.Fatal(err)
	}
	cmd := couchplay("--headless", "--no-mdns", "--listen", "127.0.0.1:0", "--data", data, "--rom", "builtin:testcard")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	timer := time.AfterFunc(60*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	serving := regexp.MustCompile(`^couchplay: serving http://127\.0\.0\.1:\d+/`)
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if line := sc.Text(); serving.MatchString(line) {
			if strings.Contains(line, "room code") {
				t.Fatalf("%q: the file's access = open was not used", line)
			}
			return
		}
	}
	t.Fatal("no serving line")
}
