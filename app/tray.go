package app

import (
	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/driver/desktop"
)

// trayNoticeKey remembers that the "still hosting in the tray" notice was shown.
const trayNoticeKey = "tray-notice-shown"

// setupTray adds the tray icon (the app's raster icon: given an SVG the tray
// logs "unknown format" and shows none) with Show, Copy URL and Quit, where
// the desktop has a tray. With one, closing the window keeps hosting in the
// tray, and says so once.
func setupTray(a fyne.App, w fyne.Window, h Host) {
	tray, ok := a.(desktop.App)
	if !ok || !trayAvailable() {
		return
	}
	tray.SetSystemTrayIcon(appIcon)
	show := fyne.NewMenuItem("Show", func() {
		w.Show()
		w.RequestFocus()
	})
	copyURL := fyne.NewMenuItem("Copy URL", func() {
		if urls := h.URLs(); len(urls) > 0 {
			a.Clipboard().SetContent(urls[0])
		}
	})
	quit := fyne.NewMenuItem("Quit", a.Quit)
	quit.IsQuit = true
	tray.SetSystemTrayMenu(fyne.NewMenu("couchplay", show, copyURL, fyne.NewMenuItemSeparator(), quit))
	tray.SetSystemTrayWindow(w)
	w.SetCloseIntercept(func() {
		w.Hide()
		if !a.Preferences().Bool(trayNoticeKey) {
			a.Preferences().SetBool(trayNoticeKey, true)
			a.SendNotification(fyne.NewNotification("couchplay is still hosting",
				"The game goes on in the tray: choose Show to open the window again, Quit to stop hosting."))
		}
	})
}
