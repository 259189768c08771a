package app

import (
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"
	qrcode "github.com/skip2/go-qrcode"

	"couchplay/emu"
)

const (
	windowTitle = "couchplay"
	// windowWidth x windowHeight fits the game at twice NES size beside the
	// URL, a scannable QR code, the status and the library.
	windowWidth  = 1000
	windowHeight = 620
	// qrMinSize keeps the QR code big enough for a phone camera across a room.
	qrMinSize = 240
	// roomCodeSize is the room code's text size: read from the sofa.
	roomCodeSize = 56
	// qrPixels is the PNG's size; it is scaled with nearest-neighbour so modules stay sharp.
	qrPixels = 512
)

// mainWindow shows the address to open on a phone, its QR code and the host's status.
type mainWindow struct {
	window fyne.Window
	url    *widget.Label
	qr     *canvas.Image
	also   *widget.Label
	status *widget.Label
	urls   []string // what is shown now, to re-encode the QR code only when it changes

	code      *canvas.Text // the room code, in large digits (hidden when access is open)
	codeLabel *widget.Label
	// accessNotice says why the code or the QR code is new, or that typing
	// the code waits (Status.AccessNotice); hidden when there is nothing to say.
	accessNotice *widget.Label
	players      *playersPanel
	// fingerprint is the HTTPS certificate's, to compare with what the
	// phone's browser shows on its warning page.
	fingerprint *widget.Label

	settingsButton fyne.CanvasObject // a spacer when the host has no settings file

	game     *gameView     // nil without a preview
	library  *libraryPanel // nil without a console
	panel    fyne.CanvasObject
	fullGame bool // the game fills the screen (the TV is the screen, phones are pads)
}

func newMainWindow(a fyne.App, h Host) *mainWindow {
	m := &mainWindow{
		window: a.NewWindow(windowTitle),
		url:    widget.NewLabel(""),
		qr:     canvas.NewImageFromResource(nil),
		also:   widget.NewLabel(""),
		status: widget.NewLabel(""),

		fingerprint: widget.NewLabel(""),
	}
	m.fingerprint.Alignment = fyne.TextAlignCenter
	m.fingerprint.Wrapping = fyne.TextWrapBreak
	m.fingerprint.TextStyle = fyne.TextStyle{Monospace: true}
	m.fingerprint.Selectable = true
	m.fingerprint.Hide()
	// Monospace tells 0/O and 1/l apart for someone typing the URL (the built-in theme has no bold monospace).
	m.url.TextStyle = fyne.TextStyle{Monospace: true}
	m.url.SizeName = theme.SizeNameSubHeadingText
	m.url.Alignment = fyne.TextAlignCenter
	m.url.Selectable = true
	m.qr.FillMode = canvas.ImageFillContain
	m.qr.ScaleMode = canvas.ImageScalePixels
	m.qr.SetMinSize(fyne.NewSize(qrMinSize, qrMinSize))
	m.also.Alignment = fyne.TextAlignCenter
	m.also.Wrapping = fyne.TextWrapWord
	m.status.Alignment = fyne.TextAlignCenter
	m.status.Wrapping = fyne.TextWrapWord
	m.code = canvas.NewText("", theme.Color(theme.ColorNameForeground))
	m.code.TextSize = roomCodeSize
	m.code.TextStyle = fyne.TextStyle{Monospace: true}
	m.code.Alignment = fyne.TextAlignCenter
	m.codeLabel = widget.NewLabel("Room code")
	m.codeLabel.Alignment = fyne.TextAlignCenter
	m.code.Hide()
	m.codeLabel.Hide()
	m.accessNotice = widget.NewLabel("")
	m.accessNotice.Alignment = fyne.TextAlignCenter
	m.accessNotice.Wrapping = fyne.TextWrapWord
	m.accessNotice.Importance = widget.WarningImportance
	m.accessNotice.Hide()
	m.players = newPlayersPanel(h)

	var settingsButton fyne.CanvasObject = layout.NewSpacer()
	if store := h.Settings(); store != nil {
		restart := func() {
			h.Restart()
			a.Quit() // the host restarts once the window is gone
		}
		settingsButton = widget.NewButtonWithIcon("Settings", theme.SettingsIcon(), func() { showSettings(m.window, store, restart) })
	}
	m.settingsButton = settingsButton

	heading := widget.NewLabel("Open on your phone, or scan:")
	heading.Alignment = fyne.TextAlignCenter
	top := container.NewVBox(heading, m.url, m.codeLabel, m.code, m.accessNotice)
	bottom := container.NewVBox(m.also, m.fingerprint, widget.NewSeparator(), m.status, m.players.content,
		container.NewHBox(layout.NewSpacer(), settingsButton))
	join := container.NewBorder(top, bottom, nil, nil, m.qr)
	side := fyne.CanvasObject(join)
	if c := h.Console(); c != nil {
		m.library = newLibraryPanel(c)
		side = container.NewVSplit(join, m.library.content)
		c.OnChange(func(emu.GameStatus) { fyne.Do(m.library.reload) })
	}
	m.panel = side
	if p := h.Preview(); p != nil {
		m.game = newGameView(p)
		full := widget.NewButton("Full screen (F11)", m.toggleFullGame)
		gameArea := container.NewBorder(nil, full, nil, nil, m.game.image)
		split := container.NewHSplit(gameArea, side)
		split.Offset = 0.55
		m.panel = split
		m.window.Canvas().SetOnTypedKey(func(k *fyne.KeyEvent) {
			switch {
			case k.Name == fyne.KeyF11, k.Name == fyne.KeyEscape && m.fullGame:
				m.toggleFullGame()
			}
		})
	}
	m.window.SetContent(m.panel)
	m.window.Resize(fyne.NewSize(windowWidth, windowHeight))
	m.window.SetMaster() // closing the window quits the app, so Run returns

	m.show(h.URLs(), h.Status())
	return m
}

// toggleFullGame shows only the game, full screen, or goes back to the panel.
func (m *mainWindow) toggleFullGame() {
	m.fullGame = !m.fullGame
	if m.fullGame {
		m.window.SetContent(m.game.image)
	} else {
		m.window.SetContent(m.panel)
	}
	m.window.SetFullScreen(m.fullGame)
}

// show updates the window; it must run on the Fyne UI goroutine (fyne.Do).
func (m *mainWindow) show(urls []string, s Status) {
	status := formatStatus(s)
	if s.Notice != "" {
		status += "\n" + s.Notice
	}
	m.status.SetText(status)
	m.showPlayers(s)
	if m.urls != nil && slices.Equal(urls, m.urls) {
		return
	}
	m.urls = slices.Clone(urls)
	if m.urls == nil {
		m.urls = []string{} // non-nil: the first call always renders
	}

	if len(urls) == 0 {
		m.url.SetText("no network address yet")
		m.qr.Resource = nil
		m.qr.Hide()
		m.also.Hide()
		return
	}
	m.url.SetText(withoutKey(urls[0]))
	if png, err := qrcode.Encode(urls[0], qrcode.Medium, qrPixels); err != nil {
		slog.Warn("app: cannot encode QR code", "url", urls[0], "err", err)
		m.qr.Hide()
	} else {
		m.qr.Resource = fyne.NewStaticResource("couchplay-qr.png", png)
		m.qr.Show()
		m.qr.Refresh()
	}
	others := make([]string, len(urls)-1)
	for i, u := range urls[1:] {
		others[i] = withoutKey(u)
	}
	if also := formatAlso(others); also != "" {
		m.also.SetText(also)
		m.also.Show()
	} else {
		m.also.Hide()
	}
}

// formatStatus is the one-line status under the QR code.
func formatStatus(s Status) string {
	game := s.Game
	if game == "" {
		game = "no game"
	}
	players := "none"
	if len(s.Players) > 0 {
		slots := make([]string, len(s.Players))
		for i, p := range s.Players {
			slots[i] = strconv.Itoa(p)
		}
		players = strings.Join(slots, ", ")
	}
	return fmt.Sprintf("%s · players: %s · spectators: %d", game, players, s.Spectators)
}

// formatAlso lists the other addresses the host answers on, or "" if there are none.
func formatAlso(others []string) string {
	if len(others) == 0 {
		return ""
	}
	return "also: " + strings.Join(others, "  ")
}

// showPlayers updates the room code (and what the host says about it), the
// certificate fingerprint and the players.
func (m *mainWindow) showPlayers(s Status) {
	if s.RoomCode != "" {
		if m.code.Text != s.RoomCode {
			m.code.Text = s.RoomCode
			m.code.Refresh()
		}
		m.code.Show()
		m.codeLabel.Show()
	} else {
		m.code.Hide()
		m.codeLabel.Hide()
	}
	if s.AccessNotice != "" {
		if m.accessNotice.Text != s.AccessNotice {
			m.accessNotice.SetText(s.AccessNotice)
		}
		m.accessNotice.Show()
	} else {
		m.accessNotice.Hide()
	}
	if s.Fingerprint != "" {
		text := "HTTPS certificate SHA-256:\n" + s.Fingerprint
		if m.fingerprint.Text != text {
			m.fingerprint.SetText(text)
		}
		m.fingerprint.Show()
	} else {
		m.fingerprint.Hide()
	}
	m.players.show(s)
}

// withoutKey is a URL as the window prints it: without the join key (the
// QR code carries it; someone typing the URL types the room code instead).
func withoutKey(u string) string {
	if i := strings.Index(u, "#"); i >= 0 {
		return u[:i]
	}
	return u
}
