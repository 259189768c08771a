package app

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io/fs"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/test"
	"fyne.io/fyne/v2/widget"

	"couchplay/assets"
	"couchplay/emu"
	"couchplay/emu/lightcycles"
	"couchplay/internal/settings"
)

// fixedHost is a Host whose answers the test changes between refreshes.
type fixedHost struct {
	mu        sync.Mutex
	urls      []string
	status    Status
	console   *emu.Console
	preview   *emu.Preview
	settings  *settings.Store
	restarted chan struct{}
	kicked    chan int
	spectated chan int
}

func (h *fixedHost) Kick(slot int) error {
	if h.kicked != nil {
		h.kicked <- slot
	}
	return nil
}

func (h *fixedHost) MoveToSpectator(slot int) error {
	if h.spectated != nil {
		h.spectated <- slot
	}
	return nil
}

func (h *fixedHost) URLs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.urls
}

func (h *fixedHost) Console() *emu.Console     { return h.console }
func (h *fixedHost) Preview() *emu.Preview     { return h.preview }
func (h *fixedHost) Settings() *settings.Store { return h.settings }
func (h *fixedHost) Restart() {
	if h.restarted != nil {
		h.restarted <- struct{}{}
	}
}

func (h *fixedHost) Status() Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.status
}

func TestFormatStatus(t *testing.T) {
	cases := []struct {
		in   Status
		want string
	}{
		{Status{}, "no game · players: none · spectators: 0"},
		{Status{Game: "Testcard", Players: []int{1, 3}, Spectators: 2, Peers: 4}, "Testcard · players: 1, 3 · spectators: 2"},
	}
	for _, c := range cases {
		if got := formatStatus(c.in); got != c.want {
			t.Errorf("formatStatus(%+v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestFormatAlso(t *testing.T) {
	if got := formatAlso(nil); got != "" {
		t.Errorf("formatAlso(nil) = %q, want empty", got)
	}
	got := formatAlso([]string{"http://10.0.0.2:8000/", "http://couchplay.local:8000/"})
	if want := "also: http://10.0.0.2:8000/  http://couchplay.local:8000/"; got != want {
		t.Errorf("formatAlso = %q, want %q", got, want)
	}
}

func TestMainWindowShowsHost(t *testing.T) {
	a := test.NewTempApp(t)
	h := &fixedHost{
		urls:   []string{"http://192.168.1.20:8000/", "http://10.0.0.2:8000/"},
		status: Status{Game: "Testcard", Players: []int{1}, Spectators: 0},
	}
	m := newMainWindow(a, h)
	defer m.window.Close()

	if m.window.Title() != "couchplay" {
		t.Errorf("title = %q", m.window.Title())
	}
	if m.url.Text != "http://192.168.1.20:8000/" {
		t.Errorf("url label = %q", m.url.Text)
	}
	if !m.also.Visible() || m.also.Text != "also: http://10.0.0.2:8000/" {
		t.Errorf("also label = %q visible=%v", m.also.Text, m.also.Visible())
	}
	if m.status.Text != "Testcard · players: 1 · spectators: 0" {
		t.Errorf("status label = %q", m.status.Text)
	}
	if m.qr.Resource == nil || !m.qr.Visible() {
		t.Fatal("no QR code shown")
	}
	img, err := png.Decode(bytes.NewReader(m.qr.Resource.Content()))
	if err != nil {
		t.Fatalf("QR resource is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != qrPixels || b.Dy() != qrPixels {
		t.Errorf("QR image is %v, want %dx%d", b, qrPixels, qrPixels)
	}
	firstQR := m.qr.Resource

	// A status change alone keeps the QR code; a new first URL re-encodes it.
	h.mu.Lock()
	h.status = Status{Game: "Testcard", Players: []int{1, 2}, Spectators: 3}
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.status.Text != "Testcard · players: 1, 2 · spectators: 3" {
		t.Errorf("status label after change = %q", m.status.Text)
	}
	if m.qr.Resource != firstQR {
		t.Error("QR code re-encoded although the URLs did not change")
	}

	h.mu.Lock()
	h.urls = []string{"http://192.168.1.21:8000/"}
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.url.Text != "http://192.168.1.21:8000/" {
		t.Errorf("url label after change = %q", m.url.Text)
	}
	if m.qr.Resource == firstQR || bytes.Equal(m.qr.Resource.Content(), firstQR.Content()) {
		t.Error("QR code not re-encoded for a new URL")
	}
	if m.also.Visible() {
		t.Errorf("also label still visible with one URL: %q", m.also.Text)
	}

	h.mu.Lock()
	h.urls = nil
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.qr.Visible() {
		t.Error("QR code shown without any URL")
	}
	if m.url.Text != "no network address yet" {
		t.Errorf("url label without URLs = %q", m.url.Text)
	}
}

// testBuiltins are the host's built-in games, for windows that run a console.
var testBuiltins = emu.Builtins{emu.LightCyclesID: lightcycles.New, emu.TestCardID: emu.NewTestCard}

// The window shows the game live and runs the console: a frame stored by the
// loop appears in the game view, and Play in the library switches the game.
func TestWindowShowsGameAndRunsLibrary(t *testing.T) {
	a := test.NewTempApp(t)
	loop := emu.NewLoop(lightcycles.New(), nil, nil, nil) // not started: commands run inline
	console := emu.NewConsole(emu.ConsoleConfig{Loop: loop, Builtins: testBuiltins}, emu.LightCyclesGame)
	h := &fixedHost{urls: []string{"http://192.168.1.20:8000/"}, console: console, preview: &emu.Preview{}}
	loadInline.Store(true)
	defer loadInline.Store(false)
	m := newMainWindow(a, h)
	defer m.window.Close()

	h.preview.Watch(true)
	frame := image.NewRGBA(image.Rect(0, 0, 160, 144))
	for i := range frame.Pix {
		frame.Pix[i] = 255
	}
	h.preview.Store(frame)
	m.game.update()
	shown, ok := m.game.image.Image.(*image.RGBA)
	if !ok || shown.Bounds().Dx() != 160 || shown.RGBAAt(80, 70) != (color.RGBA{255, 255, 255, 255}) {
		t.Fatalf("game view shows %v, want the stored white 160x144 frame", m.game.image.Image.Bounds())
	}
	for i := range frame.Pix {
		frame.Pix[i] = 0
	}
	frame.Pix[3] = 255
	h.preview.Store(frame)
	m.game.update()
	if m.game.image.Image == shown || m.game.image.Image.(*image.RGBA).RGBAAt(80, 70).R != 0 {
		t.Error("the next frame was not shown in the other buffer")
	}

	lib := m.library
	ran := make(chan string, 4)
	lib.ran = func() { ran <- lib.result.Text }
	if n := lib.list.Length(); n != 2 {
		t.Fatalf("library lists %d games, want the two built-ins", n)
	}
	row := lib.list.CreateItem()
	lib.list.UpdateItem(1, row)
	name := row.(*fyne.Container).Objects[0].(*widget.Label)
	if !strings.HasPrefix(name.Text, "Test Card") {
		t.Fatalf("row 1 = %q", name.Text)
	}
	test.Tap(row.(*fyne.Container).Objects[1].(*widget.Button))
	if got := outcome(t, ran); got != "Started Test Card" || console.Status().Game.ID != emu.TestCardID {
		t.Fatalf("Play: result %q, running %q", got, console.Status().Game.ID)
	}
	// A save state of a built-in is refused, with the reason in the window.
	test.Tap(findButton(t, lib.content, "Save"))
	if got := outcome(t, ran); !strings.Contains(got, "has no save states") {
		t.Fatalf("Save: result %q", got)
	}
}

// watchLibraryLoads reports each load of a library panel shown.
func watchLibraryLoads(t *testing.T) chan *libraryPanel {
	loaded := make(chan *libraryPanel, 16)
	hook := func(p *libraryPanel) {
		select {
		case loaded <- p:
		default:
		}
	}
	libraryLoaded.Store(&hook)
	t.Cleanup(func() { libraryLoaded.Store(nil) })
	return loaded
}

// waitLoaded waits for panel p to show a load.
func waitLoaded(t *testing.T, loaded chan *libraryPanel, p *libraryPanel) {
	t.Helper()
	for {
		select {
		case got := <-loaded:
			if got == p {
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the library was never shown")
		}
	}
}

// The window's library is scanned off the UI goroutine (a first scan opens
// every zip and probes every core in a child process): the panel comes up
// at once and shows the games when the scan is done; Rescan scans again.
func TestLibraryReloadIsOffTheUIGoroutine(t *testing.T) {
	test.NewTempApp(t)
	release := make(chan struct{})
	var scans atomic.Int32
	console := emu.NewConsole(emu.ConsoleConfig{Loop: emu.NewLoop(lightcycles.New(), nil, nil, nil), Builtins: testBuiltins,
		Games: func() []emu.Game {
			scans.Add(1)
			<-release
			return []emu.Game{{ID: "rom:1", Name: "Zelda", Detail: "no core found: (searched /usr/lib/libretro)", Problem: "no core found"}}
		}}, emu.LightCyclesGame)
	loaded := watchLibraryLoads(t)
	made := make(chan *libraryPanel, 1)
	go func() { made <- newLibraryPanel(console) }()
	var p *libraryPanel
	select {
	case p = <-made:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("newLibraryPanel waited for the library scan")
	}
	close(release)
	if waitLoaded(t, loaded, p); p.list.Length() != 3 {
		t.Fatalf("library lists %d games, want the built-ins and Zelda", p.list.Length())
	}
	row := p.list.CreateItem()
	p.list.UpdateItem(2, row)
	if name := row.(*fyne.Container).Objects[0].(*widget.Label).Text; !strings.Contains(name, "/usr/lib/libretro") {
		t.Errorf("the window's row %q does not give the host the detail", name)
	}
	test.Tap(findButton(t, p.content, "Rescan"))
	waitLoaded(t, loaded, p)
	if n := scans.Load(); n != 2 {
		t.Errorf("%d scans after Rescan, want 2", n)
	}
}

// outcome waits for the library panel to show a command's result.
func outcome(t *testing.T, ran chan string) string {
	t.Helper()
	select {
	case text := <-ran:
		return text
	case <-time.After(10 * time.Second):
		t.Fatal("no outcome shown")
		return ""
	}
}

// findButton finds a button by its text in a widget tree.
func findButton(t *testing.T, o fyne.CanvasObject, text string) *widget.Button {
	t.Helper()
	var walk func(fyne.CanvasObject) *widget.Button
	walk = func(o fyne.CanvasObject) *widget.Button {
		switch v := o.(type) {
		case *widget.Button:
			if v.Text == text {
				return v
			}
		case *fyne.Container:
			for _, c := range v.Objects {
				if b := walk(c); b != nil {
					return b
				}
			}
		}
		return nil
	}
	if b := walk(o); b != nil {
		return b
	}
	t.Fatalf("no %q button", text)
	return nil
}

// In code mode the window shows the room code and the URL without the key (the
// QR code carries it); each occupied player slot has a Kick button that asks the host.
func TestMainWindowRoomCodeAndKick(t *testing.T) {
	a := test.NewTempApp(t)
	h := &fixedHost{
		urls:   []string{"http://192.168.1.20:8000/#key=SECRET"},
		status: Status{Game: "Testcard", Players: []int{2}, RoomCode: "4821"},
		kicked: make(chan int, 1),
	}
	m := newMainWindow(a, h)
	defer m.window.Close()
	if m.url.Text != "http://192.168.1.20:8000/" {
		t.Errorf("url label = %q, want no key", m.url.Text)
	}
	if !m.code.Visible() || m.code.Text != "4821" || m.code.TextSize < 40 {
		t.Errorf("room code %q visible=%v size %v", m.code.Text, m.code.Visible(), m.code.TextSize)
	}
	kicks := m.players.kicks
	if !kicks[0].Disabled() || kicks[1].Disabled() {
		t.Fatalf("kick buttons: slot 1 disabled=%v, slot 2 disabled=%v", kicks[0].Disabled(), kicks[1].Disabled())
	}
	if m.players.labels[1].Text != "Player 2: playing" {
		t.Errorf("slot 2 label %q", m.players.labels[1].Text)
	}
	test.Tap(kicks[1])
	select {
	case slot := <-h.kicked:
		if slot != 2 {
			t.Fatalf("kicked slot %d, want 2", slot)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Kick button did not ask the host")
	}
	h.mu.Lock()
	h.status = Status{Game: "Testcard"}
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.code.Visible() || !kicks[1].Disabled() {
		t.Errorf("open mode: code visible=%v, kick 2 disabled=%v", m.code.Visible(), kicks[1].Disabled())
	}
}

// The players list tells playing, reserved and free slots apart, each in its
// colour; Watch moves a connected player to the spectators (a reserved slot
// has no page to move, only Kick); the HTTPS fingerprint is shown when there is one.
func TestPlayersListWatchAndFingerprint(t *testing.T) {
	a := test.NewTempApp(t)
	h := &fixedHost{
		urls: []string{"https://192.168.1.20:8000/"},
		status: Status{Game: "Testcard", Players: []int{1, 3}, Reserved: []int{3}, Spectators: 2,
			Fingerprint: "AB:CD:EF"},
		spectated: make(chan int, 1),
	}
	m := newMainWindow(a, h)
	defer m.window.Close()
	p := m.players
	want := []string{"Player 1: playing", "Player 2: free", "Player 3: reserved (reconnecting)", "Player 4: free"}
	for i, w := range want {
		if p.labels[i].Text != w {
			t.Errorf("slot %d label %q, want %q", i+1, p.labels[i].Text, w)
		}
	}
	for i, st := range []struct{ kick, watch bool }{{true, true}, {false, false}, {true, false}, {false, false}} {
		if p.kicks[i].Disabled() == st.kick || p.watches[i].Disabled() == st.watch {
			t.Errorf("slot %d: kick enabled=%v watch enabled=%v, want %v %v", i+1,
				!p.kicks[i].Disabled(), !p.watches[i].Disabled(), st.kick, st.watch)
		}
	}
	if p.spectators.Text != "Spectators: 2" {
		t.Errorf("spectators label %q", p.spectators.Text)
	}
	if !m.fingerprint.Visible() || !strings.Contains(m.fingerprint.Text, "AB:CD:EF") {
		t.Errorf("fingerprint %q visible=%v", m.fingerprint.Text, m.fingerprint.Visible())
	}
	test.Tap(p.watches[0])
	select {
	case slot := <-h.spectated:
		if slot != 1 {
			t.Fatalf("moved slot %d, want 1", slot)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the Watch button did not ask the host")
	}
	if playerColours[0] == playerColours[1] {
		t.Error("players 1 and 2 share a colour")
	}

	h.mu.Lock()
	h.status = Status{Game: "Testcard", Players: []int{3}}
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if p.labels[2].Text != "Player 3: playing" || p.watches[2].Disabled() {
		t.Errorf("slot 3 back: %q watch disabled=%v", p.labels[2].Text, p.watches[2].Disabled())
	}
	if m.fingerprint.Visible() {
		t.Error("fingerprint shown over plain HTTP")
	}
}

// With a settings file the window has a Settings button that opens the
// settings dialog over it; without one there is no button.
func TestMainWindowSettingsButton(t *testing.T) {
	a := test.NewTempApp(t)
	h := &fixedHost{urls: []string{"http://192.168.1.20:8000/"}, settings: settings.New(t.TempDir())}
	m := newMainWindow(a, h)
	defer m.window.Close()
	if m.window.Canvas().Overlays().Top() != nil {
		t.Fatal("a dialog is open before Settings was pressed")
	}
	test.Tap(findButton(t, m.panel, "Settings"))
	if m.window.Canvas().Overlays().Top() == nil {
		t.Fatal("Settings opened no dialog")
	}

	bare := newMainWindow(a, &fixedHost{urls: []string{"http://192.168.1.20:8000/"}})
	defer bare.window.Close()
	if _, ok := bare.settingsButton.(*widget.Button); ok {
		t.Error("a Settings button without a settings file")
	}
}

// The window's player colours are the phones' badge colours (page.js).
func TestPlayerColoursMatchThePage(t *testing.T) {
	js, err := fs.ReadFile(assets.Files, "page.js")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`const PLAYER_COLOURS = \[([^\]]*)\]`).FindSubmatch(js)
	if m == nil {
		t.Fatal("no PLAYER_COLOURS in page.js")
	}
	page := regexp.MustCompile(`#[0-9a-fA-F]{6}`).FindAllString(string(m[1]), -1)
	if len(page) != len(playerColours) {
		t.Fatalf("page.js has %d colours %q, the window %d", len(page), page, len(playerColours))
	}
	for i, c := range playerColours {
		if want := fmt.Sprintf("#%02x%02x%02x", c.R, c.G, c.B); !strings.EqualFold(page[i], want) {
			t.Errorf("player %d: page %s, window %s", i+1, page[i], want)
		}
	}
}

// When someone was guessing the room code the host makes a new one, and a
// kick makes a new join key: the window shows the new code and QR code and
// says why; with nothing to say the notice is hidden.
func TestMainWindowShowsANewCodeAndWhy(t *testing.T) {
	a := test.NewTempApp(t)
	h := &fixedHost{
		urls:   []string{"http://192.168.1.20:8000/#key=FIRST"},
		status: Status{Game: "Testcard", RoomCode: "4821"},
	}
	m := newMainWindow(a, h)
	defer m.window.Close()
	if m.accessNotice.Visible() {
		t.Fatalf("notice shown with nothing to say: %q", m.accessNotice.Text)
	}
	qr := m.qr.Resource
	guessed := "Someone was guessing the room code (300 wrong codes), so at 14:02 the host made a new one: 7305.\n" +
		"A player was kicked at 14:05, so the QR code is new (the old one no longer lets anyone in)."
	h.mu.Lock()
	h.urls = []string{"http://192.168.1.20:8000/#key=SECOND"}
	h.status = Status{Game: "Testcard", RoomCode: "7305", AccessNotice: guessed}
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.code.Text != "7305" || !m.code.Visible() {
		t.Errorf("room code %q visible=%v, want the new code", m.code.Text, m.code.Visible())
	}
	if !m.accessNotice.Visible() || m.accessNotice.Text != guessed {
		t.Errorf("notice %q visible=%v, want %q", m.accessNotice.Text, m.accessNotice.Visible(), guessed)
	}
	if m.qr.Resource == nil || m.qr.Resource == qr || bytes.Equal(m.qr.Resource.Content(), qr.Content()) {
		t.Error("the QR code was not made anew for the new key")
	}
	if m.url.Text != "http://192.168.1.20:8000/" {
		t.Errorf("url label %q, want no key", m.url.Text)
	}
	h.mu.Lock()
	h.status.AccessNotice = ""
	h.mu.Unlock()
	m.show(h.URLs(), h.Status())
	if m.accessNotice.Visible() {
		t.Error("notice still shown once the host has nothing to say")
	}
}
