package app

import (
	"errors"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"couchplay/internal/settings"
)

// The access mode's choices, as the user reads them.
const (
	accessCodeLabel = "Room code"
	accessOpenLabel = "Open"
)

// settingsWidth keeps folder paths readable in the dialog.
const settingsWidth = 600

// errBadPort is what the port entry says for anything but 1–65535.
var errBadPort = errors.New("the port must be a number from 1 to 65535")

// settingsScreen is the Settings dialog: the fields of settings.Settings,
// Save and Cancel. The host reads the file only when it starts, so a save
// says the changes apply next time rather than pretending they are live.
type settingsScreen struct {
	store   *settings.Store
	parent  fyne.Window
	loadErr error // the file could not be loaded when the dialog opened

	port        *widget.Entry
	access      *widget.RadioGroup
	roms, cores *dirList
	mdns, https *widget.Check
	status      *widget.Label // the file's problem, a refused value, or the save's outcome
	saveButton  *widget.Button
	closeButton *widget.Button
	// restartButton, shown after a save, restarts the host so the saved
	// settings apply now; nil when the host cannot restart.
	restartButton *widget.Button
	dialog        *dialog.CustomDialog

	saved func() // tests: called on the UI goroutine after a save's outcome is shown
}

// showSettings opens the Settings dialog over parent, filled from store.
// Call it on the Fyne goroutine (a button's handler). Nothing is written
// until the user presses Save.
func showSettings(parent fyne.Window, store *settings.Store, restart func()) {
	newSettingsScreen(parent, store, restart).dialog.Show()
}

// newSettingsScreen builds the dialog; restart (may be nil) restarts the host.
func newSettingsScreen(parent fyne.Window, store *settings.Store, restart func()) *settingsScreen {
	s := &settingsScreen{store: store, parent: parent, status: widget.NewLabel("")}
	s.status.Wrapping = fyne.TextWrapWord
	// A small file in the data directory: reading it here does not stall the UI.
	cur, err := store.Load()
	if err != nil {
		// cur is the defaults; the broken file stays until the user saves.
		s.loadErr = err
		s.setStatus("Could not use the settings file: "+err.Error()+
			"\nShowing the defaults. Save replaces the file and keeps the old one as "+settings.FileName+".bad.", widget.WarningImportance)
	}

	s.port = widget.NewEntry()
	s.port.SetText(strconv.Itoa(cur.Port))
	s.port.Validator = func(text string) error { _, err := parsePort(text); return err }
	s.access = widget.NewRadioGroup([]string{accessCodeLabel, accessOpenLabel}, nil)
	s.access.Horizontal = true
	s.access.Required = true
	s.access.SetSelected(accessCodeLabel)
	if cur.Access == settings.AccessOpen {
		s.access.SetSelected(accessOpenLabel)
	}
	s.roms = newDirList(parent, cur.ROMDirs)
	s.cores = newDirList(parent, cur.CoreDirs)
	s.mdns = widget.NewCheck("Advertise on the network as couchplay.local (mDNS)", nil)
	s.mdns.SetChecked(cur.MDNS)
	s.https = widget.NewCheck("Serve HTTPS with a self-signed certificate", nil)
	s.https.SetChecked(cur.HTTPS)

	form := widget.NewForm(
		&widget.FormItem{Text: "Port", Widget: s.port, HintText: "The web page's port (8000 unless you change it)"},
		&widget.FormItem{Text: "Access", Widget: s.access,
			HintText: "Room code: players enter the code or scan the QR code. Open: anyone on the network plays."},
		&widget.FormItem{Text: "ROM folders", Widget: s.roms.content, HintText: "Where the library looks for games"},
		&widget.FormItem{Text: "Core folders", Widget: s.cores.content, HintText: "Extra libretro core folders (the usual ones are always searched)"},
		&widget.FormItem{Text: "Network", Widget: s.mdns},
		&widget.FormItem{Text: "HTTPS", Widget: s.https, HintText: "Phones show a certificate warning once"},
	)
	s.saveButton = widget.NewButtonWithIcon("Save", theme.DocumentSaveIcon(), s.save)
	s.saveButton.Importance = widget.HighImportance
	s.closeButton = widget.NewButton("Cancel", func() { s.dialog.Hide() })

	// The form scrolls (many folders, a small window); the status stays in
	// view under it, next to the buttons it is about.
	scroll := container.NewVScroll(form)
	height := form.MinSize().Height
	if ph := parent.Canvas().Size().Height - 240; ph > 0 && height > ph { // 240: title, status, buttons, margins
		height = ph
	}
	scroll.SetMinSize(fyne.NewSize(settingsWidth, height))
	// A folder row more or less changes the form's height: the scroll lays
	// it out again (not every driver re-checks min sizes on its own).
	s.roms.changed, s.cores.changed = scroll.Refresh, scroll.Refresh
	s.dialog = dialog.NewCustomWithoutButtons("Settings", container.NewVBox(scroll, s.status), parent)
	buttons := []fyne.CanvasObject{s.closeButton, s.saveButton}
	if restart != nil {
		s.restartButton = widget.NewButtonWithIcon("Restart now", theme.ViewRefreshIcon(), func() {
			s.dialog.Hide()
			restart()
		})
		s.restartButton.Hide()
		buttons = append(buttons, s.restartButton)
	}
	s.dialog.SetButtons(buttons)
	return s
}

// parsePort reads the port entry.
func parsePort(text string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(text))
	if err != nil || n < 1 || n > 65535 {
		return 0, errBadPort
	}
	return n, nil
}

// values are the settings the form shows.
func (s *settingsScreen) values() (settings.Settings, error) {
	port, err := parsePort(s.port.Text)
	if err != nil {
		return settings.Settings{}, err
	}
	access := settings.AccessCode
	if s.access.Selected == accessOpenLabel {
		access = settings.AccessOpen
	}
	return settings.Settings{Port: port, Access: access, ROMDirs: s.roms.values(), CoreDirs: s.cores.values(),
		MDNS: s.mdns.Checked, HTTPS: s.https.Checked}, nil
}

// save checks the form on the UI goroutine (a refused value writes nothing)
// and writes off it: fsync on a slow disk must not freeze the window.
func (s *settingsScreen) save() {
	v, err := s.values()
	if err == nil {
		err = v.Validate() // the store's own rules (absolute folders)
	}
	if err != nil {
		s.setStatus("Not saved: "+err.Error(), widget.DangerImportance)
		return
	}
	s.saveButton.Disable()
	s.setStatus("Saving…", widget.MediumImportance)
	replacedBroken := s.loadErr != nil
	go func() {
		err := s.store.Save(v)
		fyne.Do(func() {
			s.saveButton.Enable()
			if err != nil {
				s.setStatus("Not saved: "+err.Error(), widget.DangerImportance)
			} else {
				s.loadErr = nil
				s.closeButton.SetText("Close")
				s.setStatus(savedMessage(s.store, v, replacedBroken, s.restartButton != nil), widget.SuccessImportance)
				if s.restartButton != nil {
					s.restartButton.Show()
				}
			}
			if s.saved != nil {
				s.saved()
			}
		})
	}()
}

// savedMessage says where the settings went and when they apply, and what
// the user may want to know about (missing folders, the kept broken file).
func savedMessage(store *settings.Store, v settings.Settings, replacedBroken, canRestart bool) string {
	msg := "Saved. The changes apply the next time couchplay starts."
	if canRestart {
		msg = "Saved. The changes apply when couchplay starts again: Restart now does it (phones then join again: a new room code, maybe a new port)."
	}
	if replacedBroken {
		msg += "\nThe old file is kept as " + store.BadPath() + "."
	}
	if missing := v.MissingDirs(); len(missing) > 0 {
		// Kept on purpose: a disk that is not plugged in now is still the library.
		msg += "\nNot found right now (kept, for a disk that is not plugged in): " + strings.Join(missing, ", ")
	}
	return msg
}

func (s *settingsScreen) setStatus(text string, importance widget.Importance) {
	s.status.Importance = importance
	s.status.SetText(text) // refreshes with the new importance too
}

// dirList is an editable list of folders: a row per folder with Remove, and
// a path entry with Add and Browse… (typing allows a folder of a disk that
// is not plugged in, which the folder picker cannot show).
type dirList struct {
	parent  fyne.Window
	dirs    []string
	rows    *fyne.Container
	entry   *widget.Entry
	add     *widget.Button
	browse  *widget.Button
	content fyne.CanvasObject
	changed func() // after the rows changed; may be nil
}

func newDirList(parent fyne.Window, dirs []string) *dirList {
	l := &dirList{parent: parent, dirs: append([]string(nil), dirs...), rows: container.NewVBox(), entry: widget.NewEntry()}
	l.entry.SetPlaceHolder("/path/to/folder")
	l.entry.OnSubmitted = func(string) { l.addTyped() }
	l.add = widget.NewButtonWithIcon("Add", theme.ContentAddIcon(), l.addTyped)
	l.browse = widget.NewButtonWithIcon("Browse…", theme.FolderOpenIcon(), l.pick)
	l.content = container.NewVBox(l.rows, container.NewBorder(nil, nil, nil, container.NewHBox(l.add, l.browse), l.entry))
	l.refresh()
	return l
}

func (l *dirList) values() []string { return append([]string(nil), l.dirs...) }

func (l *dirList) addTyped() {
	if l.addDir(l.entry.Text) {
		l.entry.SetText("")
	}
}

// pick opens the folder picker; its callback runs on the Fyne goroutine.
func (l *dirList) pick() {
	dialog.ShowFolderOpen(func(dir fyne.ListableURI, err error) {
		if err == nil && dir != nil { // nil: cancelled
			l.addDir(dir.Path())
		}
	}, l.parent)
}

// addDir adds a folder once; false for a blank path.
func (l *dirList) addDir(dir string) bool {
	dir = strings.TrimSpace(dir)
	if dir == "" {
		return false
	}
	for _, d := range l.dirs {
		if d == dir {
			return true
		}
	}
	l.dirs = append(l.dirs, dir)
	l.refresh()
	return true
}

func (l *dirList) remove(i int) {
	l.dirs = append(l.dirs[:i:i], l.dirs[i+1:]...)
	l.refresh()
}

func (l *dirList) refresh() {
	l.rows.RemoveAll()
	if len(l.dirs) == 0 {
		none := widget.NewLabel("None")
		none.Importance = widget.LowImportance
		l.rows.Add(none)
	}
	for i, d := range l.dirs {
		name := widget.NewLabel(d)
		name.Truncation = fyne.TextTruncateEllipsis
		remove := widget.NewButtonWithIcon("Remove", theme.ContentRemoveIcon(), func() { l.remove(i) })
		l.rows.Add(container.NewBorder(nil, nil, nil, remove, name))
	}
	if l.changed != nil {
		l.changed()
	}
}
