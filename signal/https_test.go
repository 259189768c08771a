package signal

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"couchplay/emu"
	"couchplay/internal/tlscert"
	"couchplay/room"
	"couchplay/stream"
)

type httpsHost struct {
	srv     *Server
	base    string // https://127.0.0.1:port/
	log     *lockedBuffer
	client  *http.Client // trusts exactly the host's certificate, read from dir
	tlsConf *tls.Config
}

// startHTTPSHost starts a test card host with HTTPSDir = dir; it is stopped
// with the test, or by calling stop.
func startHTTPSHost(t *testing.T, dir string, access *room.Access) (*httpsHost, func()) {
	t.Helper()
	logBuf := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	hub, err := stream.NewHub(stream.Settings{ListenIP: net.IPv4(127, 0, 0, 1), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	core := emu.NewTestCard()
	rm := room.New(4)
	rm.SetAccess(access)
	loop := emu.NewLoop(core, rm, hub.WriteFrame, emu.RealClock{})
	srv := New(Config{
		Listen: "127.0.0.1:0", Version: "test", HTTPSDir: dir,
		Client: fstest.MapFS{"index.html": {Data: []byte("<title>couchplay</title>")}},
		Logger: log,
	}, hub, rm)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	loop.Start()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		loop.Shutdown()
		hub.Shutdown()
	}
	t.Cleanup(stop)

	// Trust what is on disk, as a user who installed cert.pem would.
	pemBytes, err := os.ReadFile(filepath.Join(dir, tlscert.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatalf("%s holds no certificate", tlscert.CertFile)
	}
	conf := &tls.Config{RootCAs: pool}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: conf}}
	t.Cleanup(client.CloseIdleConnections)
	return &httpsHost{srv: srv, base: srv.URLs()[0], log: logBuf, client: client, tlsConf: conf}, stop
}

func certFingerprintOnDisk(t *testing.T, dir string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, tlscert.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("no PEM block in cert.pem")
	}
	return tlscert.Fingerprint(block.Bytes)
}

func TestHTTPSServesHealthzAndTheWebSocket(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "https")
	h, _ := startHTTPSHost(t, dir, nil)

	if !strings.HasPrefix(h.base, "https://127.0.0.1:") {
		t.Fatalf("URLs()[0] = %s, want https://127.0.0.1:…", h.base)
	}
	fp := h.srv.Fingerprint()
	if fp == "" || fp != certFingerprintOnDisk(t, dir) {
		t.Fatalf("Fingerprint() = %q, want the SHA-256 of cert.pem %q", fp, certFingerprintOnDisk(t, dir))
	}

	resp, err := h.client.Get(h.base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	var health Health
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || health.Status != "ok" || resp.TLS == nil {
		t.Fatalf("/healthz over https: %d %+v %v (TLS %v)", resp.StatusCode, health, err, resp.TLS != nil)
	}
	if p := resp.TLS.NegotiatedProtocol; p != "" && p != "http/1.1" {
		t.Errorf("ALPN %q, want http/1.1 (WebSockets need it)", p)
	}

	// A client that trusts only the system roots refuses the certificate.
	if _, err := (&http.Client{Timeout: 5 * time.Second}).Get(h.base + "healthz"); err == nil {
		t.Error("a client without the certificate accepted it")
	}

	// Signalling over wss: the same JSON protocol.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	wss := "wss" + strings.TrimPrefix(h.base, "https") + "ws"
	c, _, err := websocket.Dial(ctx, wss, &websocket.DialOptions{HTTPClient: h.client,
		HTTPHeader: http.Header{"Origin": {strings.TrimSuffix(h.base, "/")}}})
	if err != nil {
		t.Fatalf("dial %s: %v", wss, err)
	}
	defer c.CloseNow()
	send(t, ctx, c, `{"type":"join"`)
	if m := next(t, ctx, c, TypeError); m.Code != CodeBadJSON {
		t.Fatalf("malformed JSON over wss: %+v", m)
	}
	send(t, ctx, c, `{"type":"join"}`)
	if m := next(t, ctx, c, TypeWelcome); m.Slot != 1 || m.Role != RolePlayer {
		t.Fatalf("welcome over wss: %+v", m)
	}
	if m := next(t, ctx, c, TypeOffer); !strings.Contains(m.SDP, "VP8") {
		t.Fatalf("offer over wss lacks VP8:\n%s", m.SDP)
	}

	// The 426 help says the proxy must speak TLS to this host.
	resp, err = h.client.Get(h.base + "ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired || !strings.Contains(string(body), "wss://") ||
		!strings.Contains(string(body), "SSLProxyEngine on") || strings.Contains(string(body), " ws://") {
		t.Errorf("426 over https: %d\n%s", resp.StatusCode, body)
	}
}

// http:// on the HTTPS port gets a redirect to the same URL over https and
// a page that says so, instead of Go's bare 400.
func TestPlainHTTPOnTheHTTPSPortRedirects(t *testing.T) {
	dir := t.TempDir()
	h, _ := startHTTPSHost(t, dir, nil)
	plain := "http" + strings.TrimPrefix(h.base, "https")
	noFollow := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(plain + "healthz?x=1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := h.base + "healthz?x=1"
	if resp.StatusCode != http.StatusTemporaryRedirect || resp.Header.Get("Location") != want {
		t.Fatalf("plain GET: %d Location %q, want 307 to %s\n%s", resp.StatusCode, resp.Header.Get("Location"), want, body)
	}
	if !strings.Contains(string(body), "this host serves HTTPS; open "+want) || !strings.Contains(string(body), h.srv.Fingerprint()) {
		t.Errorf("redirect body does not explain:\n%s", body)
	}
	if strings.Contains(resp.Header.Get("Content-Type"), "json") {
		t.Errorf("redirect served the JSON handler: %s", resp.Header.Get("Content-Type"))
	}
	// Following it lands on the real page over TLS.
	resp, err = h.client.Get(plain)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || !strings.Contains(string(page), "<title>couchplay</title>") {
		t.Errorf("followed redirect: %d TLS %v\n%s", resp.StatusCode, resp.TLS != nil, page)
	}
	// The WebSocket handshake over plain HTTP is not served either.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(plain, "http")+"ws", &websocket.DialOptions{HTTPClient: noFollow}); err == nil {
		c.CloseNow()
		t.Error("a plain ws:// handshake on the HTTPS port was accepted")
	}
}

func TestHTTPSCertificateIsKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	first, stop := startHTTPSHost(t, dir, nil)
	fp := first.srv.Fingerprint()
	stop()
	second, _ := startHTTPSHost(t, dir, nil)
	if second.srv.Fingerprint() != fp {
		t.Fatalf("fingerprint changed across restarts: %s then %s", fp, second.srv.Fingerprint())
	}
	// The client built from the first start's file still trusts the second.
	resp, err := first.client.Get(second.base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func TestJoinURLsAndLocalURLUseHTTPS(t *testing.T) {
	h, _ := startHTTPSHost(t, t.TempDir(), room.NewAccess())
	urls := h.srv.JoinURLs()
	if len(urls) == 0 || !strings.HasPrefix(urls[0], "https://127.0.0.1:") || !strings.Contains(urls[0], "/#key=") {
		t.Fatalf("JoinURLs() = %v", urls)
	}
	if h.srv.RoomCode() == "" {
		t.Error("code mode over HTTPS has no room code")
	}
	if got := serveURLs("https", net.IPv4zero, 8000); len(got) == 0 || !strings.HasPrefix(got[len(got)-1], "https://127.0.0.1:8000/") {
		t.Errorf("serveURLs(https, wildcard) = %v", got)
	}
}

func TestPlainHTTPHasNoFingerprint(t *testing.T) {
	h := startHost(t, 1)
	if fp := h.srv.Fingerprint(); fp != "" {
		t.Errorf("Fingerprint() over plain HTTP = %q", fp)
	}
	if !strings.HasPrefix(h.base, "http://") {
		t.Errorf("base %s", h.base)
	}
}

// A connection that never sends a byte neither blocks other clients nor
// outlives Shutdown.
func TestSilentConnectionDoesNotBlockAcceptOrShutdown(t *testing.T) {
	h, stop := startHTTPSHost(t, t.TempDir(), nil)
	addr := strings.TrimSuffix(strings.TrimPrefix(h.base, "https://"), "/")
	silent, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	resp, err := h.client.Get(h.base + "healthz")
	if err != nil {
		t.Fatalf("a second client behind a silent one: %v", err)
	}
	resp.Body.Close()
	stop()
	silent.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = silent.Read(make([]byte, 1))
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("the silent connection is still open after Shutdown")
	}
	if err == nil {
		t.Fatal("the silent connection got data")
	}
}

// A directory the certificate cannot be made in fails Start with one clear error.
func TestHTTPSDirThatCannotBeUsedFailsStart(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := New(Config{Listen: "127.0.0.1:0", HTTPSDir: filepath.Join(file, "https"), Client: fstest.MapFS{}}, nil, room.New(1))
	err := srv.Start()
	if err == nil {
		srv.Shutdown(context.Background())
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), "cannot set up HTTPS") {
		t.Errorf("error %q does not say what failed", err)
	}
}
