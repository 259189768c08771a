package host

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"couchplay/emu"
	"couchplay/internal/testutil"
)

// lockedBuffer is Stderr for a host under test (written from its goroutines).
type lockedBuffer = testutil.Buffer

func testConfig(t *testing.T, stderr io.Writer) Config {
	return Config{Listen: "127.0.0.1:0", Version: "test", ROM: emu.TestCardID, DataDir: t.TempDir(), MaxSpectators: 4,
		Client: fstest.MapFS{"index.html": {Data: []byte("<!doctype html>")}},
		Logger: slog.New(slog.DiscardHandler), Stderr: stderr}
}

// startTestHost builds and starts a host on loopback; the test shuts it down.
func startTestHost(t *testing.T, cfg Config) *Host {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := h.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { h.Shutdown(context.Background()) })
	return h
}

func TestHostServesTheGameItWasGiven(t *testing.T) {
	var stderr lockedBuffer
	h := startTestHost(t, testConfig(t, &stderr))
	if got := h.Status().Game; got != emu.TestCardGame.Name {
		t.Errorf("Status().Game = %q, want %q", got, emu.TestCardGame.Name)
	}
	urls := h.URLs()
	if len(urls) == 0 || !strings.HasPrefix(urls[0], "http://127.0.0.1:") {
		t.Fatalf("URLs() = %q", urls)
	}
	if !strings.Contains(stderr.String(), "couchplay: serving "+urls[0]) {
		t.Errorf("stderr %q has no serving line for %s", stderr.String(), urls[0])
	}
	res, err := http.Get(urls[0] + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %s", res.Status)
	}
}

func TestNewSaysWhyAGameCannotRun(t *testing.T) {
	cfg := testConfig(t, io.Discard)
	cfg.ROM = filepath.Join(t.TempDir(), "missing.nes")
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "cannot open ROM") {
		t.Errorf("New with a missing ROM: %v", err)
	}
	cfg.ROM = "builtin:nothing"
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "unknown built-in game") {
		t.Errorf("New with an unknown built-in: %v", err)
	}
}

func TestCommands(t *testing.T) {
	var stderr lockedBuffer
	h := startTestHost(t, testConfig(t, &stderr))
	h.Commands(strings.NewReader("\nkick 1\nspectate x\ndance\nrestart\nkick 2\n"))
	out := stderr.String()
	for _, want := range []string{
		"couchplay: nobody holds that player slot", `unknown command "spectate x" (` + CommandsHelp + `)`, `unknown command "dance"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr %q does not say %q", out, want)
		}
	}
	if n := strings.Count(out, "nobody holds"); n != 1 {
		t.Errorf("%d kicks answered, want 1 (none after restart): %q", n, out)
	}
	select {
	case <-h.RestartAsked():
	case <-time.After(time.Second):
		t.Fatal("restart was not asked for")
	}
	if !h.RestartWanted() {
		t.Error("RestartWanted() = false after restart")
	}
}

func TestShutdownOnceInOrder(t *testing.T) {
	h, err := New(testConfig(t, io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	url := h.URLs()[0]
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatalf("a second Shutdown: %v", err)
	}
	if _, err := http.Get(url + "healthz"); err == nil {
		t.Error("the host still serves after Shutdown")
	}
}

// With mDNS asked for on a loopback listen address nothing is advertised
// (DESIGN §4), so the window shows no .local URL, and Shutdown stops the
// advertiser with the rest.
func TestMDNSOnLoopbackAdvertisesNothing(t *testing.T) {
	cfg := testConfig(t, io.Discard)
	cfg.MDNS = true
	h := startTestHost(t, cfg)
	if h.mdns == nil {
		t.Fatal("no advertiser with Config.MDNS")
	}
	if got := h.LocalURL(); got != "" {
		t.Errorf("LocalURL() = %q on loopback", got)
	}
	if urls := h.URLs(); len(urls) != 1 {
		t.Errorf("URLs() = %q, want only the loopback one", urls)
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// A kick in code mode makes a new join key: the QR code the kicked page
// scanned lets nobody in, and a headless host's stderr gets the new join
// line. Watch moves a player to the spectators.
func TestKickMakesANewJoinKey(t *testing.T) {
	var stderr lockedBuffer
	cfg := testConfig(t, &stderr)
	cfg.AccessCode = true
	h := startTestHost(t, cfg)
	oldKey := h.room.Access().Key()
	if _, slot, _, err := h.room.Rejoin("", 1, false, nil); err != nil || slot != 1 {
		t.Fatalf("a player in slot 1: %d, %v", slot, err)
	}
	if _, slot, _, err := h.room.Rejoin("", 2, false, nil); err != nil || slot != 2 {
		t.Fatalf("a player in slot 2: %d, %v", slot, err)
	}
	if err := h.Kick(1); err != nil {
		t.Fatal(err)
	}
	newKey := h.room.Access().Key()
	if newKey == oldKey {
		t.Fatal("the join key did not change")
	}
	want := "couchplay: join " + h.URLs()[0] + " (a new join key: the host kicked a player)\n"
	if !strings.Contains(want, "#key="+newKey) || !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr %q has no line %q", stderr.String(), want)
	}
	if err := h.MoveToSpectator(2); err != nil {
		t.Fatal(err)
	}
	if st := h.Status(); len(st.Players) != 0 || st.Spectators != 1 {
		t.Errorf("after Kick and Watch: players %v, spectators %d", st.Players, st.Spectators)
	}
	if err := h.Kick(1); err == nil {
		t.Error("a second kick of slot 1 worked")
	}
}

// The startup lines outside tests and a headless user read (DESIGN §2), in
// their order: the fingerprint over HTTPS, one serving line per URL (with the
// room code in code mode), then one join line per URL with the key; and the
// line a guessed room code adds.
func TestStartupLines(t *testing.T) {
	var open lockedBuffer
	h := startTestHost(t, testConfig(t, &open))
	if want := "couchplay: serving " + h.URLs()[0] + "\n"; open.String() != want {
		t.Errorf("open mode:\n%q\nwant\n%q", open.String(), want)
	}

	var code lockedBuffer
	cfg := testConfig(t, &code)
	cfg.AccessCode = true
	cfg.HTTPSDir = filepath.Join(t.TempDir(), "https")
	h = startTestHost(t, cfg)
	u, c := h.srv.URLs()[0], h.room.Access().Code() // h.URLs() are the join URLs
	if !strings.HasPrefix(u, "https://") {
		t.Fatalf("URL %s is not HTTPS", u)
	}
	want := "couchplay: HTTPS certificate SHA-256 fingerprint " + h.srv.Fingerprint() + "\n" +
		"couchplay: serving " + u + " (room code " + c + ")\n" +
		"couchplay: join " + u + "#key=" + h.room.Access().Key() + "\n"
	if code.String() != want {
		t.Errorf("code mode over HTTPS:\n%q\nwant\n%q", code.String(), want)
	}
	h.announceNewCode("0042", 300)
	if line := "couchplay: serving " + u + " (new room code 0042: someone was guessing the old one, 300 wrong codes)\n"; !strings.HasSuffix(code.String(), line) {
		t.Errorf("after a guessed code: %q, want it to end with %q", code.String(), line)
	}
}

// Nobody watches: the game stands still. The window's view, or a page whose
// media flows (here one on WebSocket media), runs it; when they go it stops.
func TestTheGamePausesWhileNobodyWatches(t *testing.T) {
	h := startTestHost(t, testConfig(t, io.Discard))
	still := func(what string) {
		t.Helper()
		n := h.loop.Frames()
		time.Sleep(150 * time.Millisecond)
		if got := h.loop.Frames(); got != n {
			t.Fatalf("%s: %d frames ran", what, got-n)
		}
	}
	runs := func(what string) {
		t.Helper()
		n := h.loop.Frames()
		deadline := time.Now().Add(5 * time.Second)
		for h.loop.Frames() < n+5 {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the game does not run", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	still("nobody watching at start")
	h.Preview().Watch(true)
	runs("the window shows the game")
	h.Preview().Watch(false)
	time.Sleep(50 * time.Millisecond) // the frame in flight
	still("the window stopped showing it")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(h.URLs()[0], "http")+"ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"type":"join","media":"websocket"}`)); err != nil {
		t.Fatal(err)
	}
	runs("a page's media flows")
	c.Close(websocket.StatusNormalClosure, "")
	deadline := time.Now().Add(5 * time.Second)
	for !h.loop.Paused() {
		if time.Now().After(deadline) {
			t.Fatal("the game runs on after the page left")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
