package signal

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// rawRequest sends req over a new TCP connection to addr and returns the
// status line and body of the answer.
func rawRequest(t *testing.T, addr, req string) (status int, body string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return resp.StatusCode, ""
	}
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(data)
}

// DNS rebinding: a page on the internet that points its own name at the
// host's address makes the browser send Host: evil.test:PORT with a matching
// Origin, which the origin rule alone lets through (101, in open mode).
func TestRebindingHostGets421(t *testing.T) {
	h := startHostAccess(t, 4, nil, nil, nil) // --access open
	addr := strings.TrimSuffix(strings.TrimPrefix(h.base, "http://"), "/")
	_, port, _ := net.SplitHostPort(addr)
	handshake := "GET /ws HTTP/1.1\r\nHost: %s\r\nOrigin: http://%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	evil := "evil.test:" + port
	status, body := rawRequest(t, addr, strings.ReplaceAll(handshake, "%s", evil))
	if status != http.StatusMisdirectedRequest || !strings.Contains(body, `does not serve the name "evil.test"`) || !strings.Contains(body, "--trusted-origins") {
		t.Fatalf("handshake with Host %s: %d %q, want 421 saying why", evil, status, body)
	}
	// The host's own name in the same handshake is the page's: 101.
	if status, body := rawRequest(t, addr, strings.ReplaceAll(handshake, "%s", addr)); status != http.StatusSwitchingProtocols {
		t.Fatalf("handshake with Host %s: %d %q, want 101", addr, status, body)
	}
	// Every endpoint that changes or reveals state, not only /ws; /healthz stays open.
	for _, req := range []string{
		"GET / HTTP/1.1\r\nHost: " + evil + "\r\n\r\n",
		"POST /poll/open HTTP/1.1\r\nHost: " + evil + "\r\nContent-Length: 0\r\n\r\n",
		"GET /poll/recv?session=x HTTP/1.1\r\nHost: " + evil + "\r\n\r\n",
		"POST /whep HTTP/1.1\r\nHost: " + evil + "\r\nContent-Type: application/sdp\r\nContent-Length: 1\r\n\r\nx",
		"DELETE /whep/x HTTP/1.1\r\nHost: " + evil + "\r\n\r\n",
		// A proxy that rewrote Host but says the browser asked for evil.test.
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nX-Forwarded-Host: evil.test\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: 127.0.0.1:" + port + "\r\nForwarded: for=1.2.3.4;host=\"evil.test:80\"\r\n\r\n",
	} {
		if status, body := rawRequest(t, addr, req); status != http.StatusMisdirectedRequest {
			t.Errorf("%q: %d %q, want 421", strings.SplitN(req, "\r\n", 2)[0], status, body)
		}
	}
	if status, _ := rawRequest(t, addr, "GET /healthz HTTP/1.1\r\nHost: "+evil+"\r\n\r\n"); status != http.StatusOK {
		t.Errorf("/healthz with Host %s: %d, want 200", evil, status)
	}
	// One log line per address says why, not one per request.
	logged := strings.Count(h.log.String(), "refused a request for a name this host does not serve")
	if logged != 1 || !strings.Contains(h.log.String(), "refused_name=evil.test") {
		t.Errorf("%d log lines about the refused name, want 1 naming it:\n%s", logged, h.log.String())
	}
}

// The names the host serves: IP literals (what nginx's and apache's default
// proxy configs send), localhost, couchplay(-N).local, this machine's name,
// and --trusted-origins; the same names from a proxy's X-Forwarded-Host.
func TestServedHostNames(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) {
		c.TrustedOrigins = []string{"games.example:443", "https://*.home.arpa", "proxy.lan"}
	})
	hostname, _ := os.Hostname()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct {
		host, fwd string
		ok        bool
	}{
		{host: "127.0.0.1:9", ok: true},
		{host: "192.168.1.20:8000", ok: true},
		{host: "[::1]:8000", ok: true},
		{host: "[fe80::1%25eth0]:8000", ok: true},
		{host: "localhost:8000", ok: true},
		{host: "LocalHost.:8000", ok: true},
		{host: "couchplay.local:8000", ok: true},
		{host: "couchplay-3.local", ok: true},
		{host: hostname + ":8000", ok: hostname != ""},
		{host: hostname + ".local:8000", ok: hostname != ""},
		{host: "games.example", ok: true},
		{host: "tv.home.arpa:8000", ok: true},
		{host: "127.0.0.1:9", fwd: "proxy.lan:8080", ok: true},
		{host: "127.0.0.1:9", fwd: "127.0.0.1:8080", ok: true},
		{host: "evil.test:8000"},
		{host: "couchplay.local.evil.test"},
		{host: "couchplay-x.local"},
		{host: "home.arpa.evil.test"},
		{host: "127.0.0.1.evil.test"},
		{host: "127.0.0.1:9", fwd: "evil.test:8080"},
	} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"poll/open", nil)
		req.Host = tc.host
		if tc.fwd != "" {
			req.Header.Set("X-Forwarded-Host", tc.fwd)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if got := res.StatusCode != http.StatusMisdirectedRequest; got != tc.ok {
			t.Errorf("Host %q X-Forwarded-Host %q: %d, served %v", tc.host, tc.fwd, res.StatusCode, tc.ok)
		}
	}
	// The WebSocket handshake with a trusted name plays as before.
	c, _, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{Host: "games.example",
		HTTPHeader: http.Header{"Origin": {"https://games.example"}}})
	if err != nil {
		t.Fatalf("handshake for a --trusted-origins name: %v", err)
	}
	c.CloseNow()
}

// A plain GET /ws (the 426 with the proxy fix) logged one line per request;
// now one per address, then at most one every addrLogEvery saying how many
// were left out.
func TestUpgradeHelpLogIsRateLimitedPerAddress(t *testing.T) {
	h := startHost(t, 4)
	clock := time.Unix(1_000_000, 0)
	h.srv.addrLog.now = func() time.Time { return clock }
	get := func(from string) {
		t.Helper()
		res, err := clientFrom(from).Get(h.base + "ws")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusUpgradeRequired {
			t.Fatalf("plain GET /ws: %d", res.StatusCode)
		}
	}
	lines := func() int { return strings.Count(h.log.String(), "GET /ws without WebSocket upgrade headers") }
	for range 50 {
		get("127.0.0.1")
	}
	if n := lines(); n != 1 {
		t.Fatalf("50 plain GET /ws from one address logged %d lines, want 1", n)
	}
	get("127.0.0.2")
	if n := lines(); n != 2 {
		t.Fatalf("another address: %d lines, want 2", n)
	}
	clock = clock.Add(addrLogEvery)
	get("127.0.0.1")
	if n := lines(); n != 3 || !strings.Contains(h.log.String(), "suppressed=49") {
		t.Fatalf("after %s: %d lines, want 3, the last saying 49 were suppressed:\n%s", addrLogEvery, lines(), h.log.String())
	}
}

// clientFrom is an HTTP client whose connections come from the loopback
// address ip (Linux answers all of 127.0.0.0/8).
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 20 * time.Second}
}

// FuzzHostCheck: any Host (and X-Forwarded-Host) header is judged without a
// panic, and a name under a domain the host does not serve is never let through.
func FuzzHostCheck(f *testing.F) {
	s := fuzzServer()
	s.cfg.TrustedOrigins = []string{"games.example:443", "https://*.home.arpa"}
	h := s.checkHost(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	for _, seed := range [][2]string{
		{"127.0.0.1:8000", ""}, {"evil.test:8000", ""}, {"[::1]:1", "evil.test"}, {"[fe80::1%eth0]", ""},
		{"couchplay-2.local.", "tv.home.arpa"}, {"LOCALHOST", ""}, {"[", "]"}, {"", ""}, {"a:b:c", ""},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, host, fwd string) {
		r := httptest.NewRequest(http.MethodGet, "/ws", nil)
		r.Host = host
		if fwd != "" {
			r.Header.Set("X-Forwarded-Host", fwd)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		evil := func(v string) bool {
			n := hostName(v)
			return n == "evil.test" || strings.HasSuffix(n, ".evil.test")
		}
		if (evil(host) || evil(strings.Split(fwd, ",")[0])) && rec.Code != http.StatusMisdirectedRequest {
			t.Fatalf("Host %q X-Forwarded-Host %q: %d, want 421", host, fwd, rec.Code)
		}
		if rec.Code != http.StatusNoContent && rec.Code != http.StatusMisdirectedRequest {
			t.Fatalf("Host %q: %d", host, rec.Code)
		}
	})
}
