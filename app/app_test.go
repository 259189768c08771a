package app

import (
	"bytes"
	"image/png"
	"sync"
	"testing"

	"fyne.io/fyne/v2/test"
)

// fixedHost is a Host whose answers the test changes between refreshes.
type fixedHost struct {
	mu     sync.Mutex
	urls   []string
	status Status
}

func (h *fixedHost) URLs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.urls
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
