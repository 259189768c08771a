package app

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"couchplay/internal/settings"
)

// openSettings shows the Settings dialog in a test window, as showSettings
// does, and reports each save's outcome on the returned channel.
func openSettings(t *testing.T, store *settings.Store) (*settingsScreen, chan string) {
	t.Helper()
	return openSettingsRestart(t, store, nil)
}

// openSettingsRestart is openSettings for a host that can restart.
func openSettingsRestart(t *testing.T, store *settings.Store, restart func()) (*settingsScreen, chan string) {
	t.Helper()
	test.NewTempApp(t)
	w := test.NewWindow(nil)
	w.Resize(fyne.NewSize(1000, 620))
	t.Cleanup(w.Close)
	s := newSettingsScreen(w, store, restart)
	saved := make(chan string, 4)
	s.saved = func() { saved <- s.status.Text }
	s.dialog.Show()
	return s, saved
}

func waitSaved(t *testing.T, saved chan string) string {
	t.Helper()
	select {
	case text := <-saved:
		return text
	case <-time.After(10 * time.Second):
		t.Fatal("no save outcome shown")
		return ""
	}
}

// Filling the form and pressing Save writes a file the store loads back.
func TestSettingsScreenSaves(t *testing.T) {
	store := settings.New(t.TempDir())
	s, saved := openSettings(t, store)
	if s.port.Text != "8000" || s.access.Selected != accessCodeLabel || !s.mdns.Checked || s.https.Checked {
		t.Fatalf("a new screen does not show the defaults: port %q, access %q, mdns %v, https %v",
			s.port.Text, s.access.Selected, s.mdns.Checked, s.https.Checked)
	}

	roms, cores := t.TempDir(), t.TempDir()
	s.port.SetText("")
	test.Type(s.port, "9123")
	s.access.SetSelected(accessOpenLabel)
	s.roms.entry.SetText(roms)
	test.Tap(s.roms.add)
	s.roms.entry.SetText("/media/usb/roms") // not plugged in: kept, with a note
	test.Tap(s.roms.add)
	s.roms.entry.SetText("/tmp/gone")
	test.Tap(s.roms.add)
	test.Tap(removeButton(t, s.roms, 2))
	s.cores.addDir(cores)
	if s.roms.entry.Text != "" {
		t.Errorf("the path entry kept %q after Add", s.roms.entry.Text)
	}
	test.Tap(s.mdns) // off
	test.Tap(s.https)
	test.Tap(s.saveButton)

	msg := waitSaved(t, saved)
	if !strings.Contains(msg, "next time couchplay starts") || !strings.Contains(msg, "/media/usb/roms") {
		t.Errorf("after Save the dialog says %q", msg)
	}
	if s.closeButton.Text != "Close" {
		t.Errorf("the dismiss button says %q after a save", s.closeButton.Text)
	}
	got, err := store.Load()
	want := settings.Settings{Port: 9123, Access: settings.AccessOpen, ROMDirs: []string{roms, "/media/usb/roms"},
		CoreDirs: []string{cores}, MDNS: false, HTTPS: true}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("store loads %+v, %v; want %+v", got, err, want)
	}

	// Opening it again shows what was saved.
	again, _ := openSettings(t, store)
	if v, err := again.values(); err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("reopened screen shows %+v, %v", v, err)
	}
}

// An invalid port is refused with a message, and nothing is written.
func TestSettingsScreenRefusesBadPort(t *testing.T) {
	store := settings.New(t.TempDir())
	s, saved := openSettings(t, store)
	for _, port := range []string{"0", "70000", "eighty", ""} {
		s.port.SetText(port)
		if s.port.Validate() == nil {
			t.Errorf("port entry accepts %q", port)
		}
		test.Tap(s.saveButton)
		if !strings.Contains(s.status.Text, "1 to 65535") || s.status.Importance != widget.DangerImportance {
			t.Errorf("port %q: status %q", port, s.status.Text)
		}
	}
	s.port.SetText("8000")
	s.roms.addDir("relative/roms")
	test.Tap(s.saveButton)
	if !strings.Contains(s.status.Text, "absolute") {
		t.Errorf("a relative folder: status %q", s.status.Text)
	}
	select {
	case <-saved:
		t.Error("a refused form was saved")
	default:
	}
	if _, err := os.Stat(store.Path()); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused form wrote the file")
	}
}

// A broken file is reported when the dialog opens, left alone until Save, and
// then kept as settings.toml.bad.
func TestSettingsScreenKeepsBrokenFile(t *testing.T) {
	store := settings.New(t.TempDir())
	broken := "port = 8000\naccess = open\n"
	if err := os.WriteFile(store.Path(), []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	s, saved := openSettings(t, store)
	if !strings.Contains(s.status.Text, store.Path()+":2:") || !strings.Contains(s.status.Text, "defaults") {
		t.Errorf("opening over a broken file says %q", s.status.Text)
	}
	if b, _ := os.ReadFile(store.Path()); string(b) != broken {
		t.Fatal("opening the dialog changed the broken file")
	}
	test.Tap(s.saveButton)
	if msg := waitSaved(t, saved); !strings.Contains(msg, store.BadPath()) {
		t.Errorf("after Save the dialog says %q, want it to name %s", msg, store.BadPath())
	}
	if b, err := os.ReadFile(store.BadPath()); err != nil || string(b) != broken {
		t.Fatalf("%s = %q, %v; want the broken file", store.BadPath(), b, err)
	}
	if got, err := store.Load(); err != nil || !reflect.DeepEqual(got, settings.Default()) {
		t.Errorf("after Save the store loads %+v, %v", got, err)
	}
	if filepath.Dir(store.BadPath()) != filepath.Dir(store.Path()) {
		t.Error(".bad is not next to the file")
	}
}

// A Save that fails (here: the data "directory" is a file) shows the error
// in the dialog.
func TestSettingsScreenShowsSaveError(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, nil, 0o600)
	s, saved := openSettings(t, settings.New(notDir))
	test.Tap(s.saveButton)
	if msg := waitSaved(t, saved); !strings.HasPrefix(msg, "Not saved: ") || s.status.Importance != widget.DangerImportance {
		t.Errorf("a failed save says %q", msg)
	}
	if s.saveButton.Disabled() {
		t.Error("Save stays disabled after a failure")
	}
}

// removeButton is the Remove button of a folder row.
func removeButton(t *testing.T, l *dirList, row int) *widget.Button {
	t.Helper()
	if row >= len(l.rows.Objects) {
		t.Fatalf("no folder row %d (%d rows)", row, len(l.rows.Objects))
	}
	return l.rows.Objects[row].(*fyne.Container).Objects[1].(*widget.Button)
}

// With a host that can restart, Restart now appears only after a save and
// asks the host; without one there is no such button.
func TestSettingsScreenRestartNow(t *testing.T) {
	restarted := make(chan struct{}, 1)
	s, saved := openSettingsRestart(t, settings.New(t.TempDir()), func() { restarted <- struct{}{} })
	if s.restartButton == nil || s.restartButton.Visible() {
		t.Fatal("Restart now missing, or shown before a save")
	}
	test.Tap(s.saveButton)
	if msg := waitSaved(t, saved); !strings.Contains(msg, "Restart now") {
		t.Errorf("after Save the dialog says %q", msg)
	}
	if !s.restartButton.Visible() {
		t.Fatal("Restart now hidden after a save")
	}
	test.Tap(s.restartButton)
	select {
	case <-restarted:
	default:
		t.Fatal("Restart now did not ask the host")
	}
	plain, _ := openSettings(t, settings.New(t.TempDir()))
	if plain.restartButton != nil {
		t.Error("a Restart now button for a host that cannot restart")
	}
}
