package signal

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"

	"couchplay/room"
)

// originCase is one request's cross-origin headers and whether it may pass.
type originCase struct {
	name          string
	origin, site  string // Origin, Sec-Fetch-Site ("" = not sent)
	host          string // the Host header ("" = the host's own address)
	fwd           string // X-Forwarded-Host
	forwarded     string // Forwarded
	allowed       bool
	trustedSuffix bool // allowed only by --trusted-origins
}

func originCases(h *testHost) []originCase {
	self := strings.TrimSuffix(h.base, "/")
	return []originCase{
		{name: "no browser headers (WHEP player, curl)", allowed: true},
		{name: "same origin, no fetch metadata", origin: self, allowed: true},
		{name: "same origin", origin: self, site: "same-origin", allowed: true},
		{name: "typed into the address bar", site: "none", allowed: true},
		// A proxy that rewrites Host (nginx's default proxy_pass): the browser
		// still says same-origin, and that is what counts.
		{name: "proxy rewrote Host", origin: "http://127.0.0.1:8080", site: "same-origin", host: "127.0.0.1:9", allowed: true},
		{name: "another site", origin: "http://evil.example", site: "cross-site"},
		{name: "another port of this machine", origin: "http://127.0.0.1:1", site: "same-site"},
		// Sec-Fetch-Site wins over a matching Origin.
		{name: "cross-site with a matching Origin", origin: self, site: "cross-site"},
		{name: "another origin, old browser", origin: "http://evil.example"},
		// Chromium sends no fetch metadata on a WebSocket handshake: behind a
		// proxy that rewrites Host, the proxy's X-Forwarded-Host (apache's
		// default) or Forwarded header shows the page's own host.
		{name: "proxy rewrote Host, X-Forwarded-Host", origin: "http://127.0.0.1:8080", host: "127.0.0.1:9", fwd: "127.0.0.1:8080", allowed: true},
		{name: "proxy rewrote Host, Forwarded", origin: "http://127.0.0.1:8080", host: "127.0.0.1:9", forwarded: `for=1.2.3.4;host="127.0.0.1:8080";proto=http`, allowed: true},
		{name: "X-Forwarded-Host of another host", origin: "http://evil.example", fwd: "127.0.0.1:8080"},
		// (A name the host does not serve is a 421 before this: hostcheck_test.go.)
		{name: "X-Forwarded-Host does not beat Sec-Fetch-Site", origin: "http://127.0.0.1:8080", site: "cross-site", fwd: "127.0.0.1:8080"},
		{name: "trusted origin, cross-site", origin: "http://trusted.example:81", site: "cross-site", allowed: true, trustedSuffix: true},
		{name: "trusted origin, old browser", origin: "http://trusted.example:81", allowed: true, trustedSuffix: true},
	}
}

func (c originCase) header() http.Header {
	hd := http.Header{}
	if c.origin != "" {
		hd.Set("Origin", c.origin)
	}
	if c.site != "" {
		hd.Set("Sec-Fetch-Site", c.site)
	}
	if c.fwd != "" {
		hd.Set("X-Forwarded-Host", c.fwd)
	}
	if c.forwarded != "" {
		hd.Set("Forwarded", c.forwarded)
	}
	return hd
}

func TestCrossOriginJudgedByFetchMetadataThenOrigin(t *testing.T) {
	for _, trusted := range []bool{false, true} {
		h := startHostConfig(t, 8, nil, func(c *Config) {
			if trusted {
				c.TrustedOrigins = []string{"trusted.example:*"}
			}
		})
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, tc := range originCases(h) {
			want := tc.allowed && (!tc.trustedSuffix || trusted)
			t.Run(tc.name, func(t *testing.T) {
				hd := tc.header()
				// The WebSocket handshake (a GET: checked all the same).
				c, resp, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{HTTPHeader: hd, Host: tc.host})
				if want {
					if err != nil {
						t.Fatalf("ws (trusted %v): refused: %v", trusted, err)
					}
					c.CloseNow()
				} else if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
					if c != nil {
						c.CloseNow()
					}
					t.Fatalf("ws (trusted %v): err %v resp %v, want 403", trusted, err, resp)
				}
				// poll/open.
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"poll/open", nil)
				req.Header = hd.Clone()
				req.Host = tc.host
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if got := res.StatusCode == http.StatusCreated; got != want {
					t.Fatalf("poll/open (trusted %v): %d, allowed %v", trusted, res.StatusCode, want)
				}
				if !want && res.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Fatal("the refusal is not readable by the refused page")
				}
				// WHEP (its body is checked after the origin: garbage is a 400).
				whepHeader := hd.Clone()
				resp2, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", "garbage", whepHeader)
				if want && resp2.StatusCode == http.StatusForbidden || !want && resp2.StatusCode != http.StatusForbidden {
					t.Fatalf("whep (trusted %v): %d %s, allowed %v", trusted, resp2.StatusCode, body, want)
				}
				if !want && (!strings.Contains(body, "cross-origin") || !strings.Contains(body, "--trusted-origins")) {
					t.Fatalf("403 body does not explain: %q", body)
				}
			})
		}
	}
}

// The page key written into the served index.html lets a handshake without
// fetch metadata through when its Origin matches nothing (a proxy rewrote
// Host); a wrong or missing key does not.
func TestPageKeyProvesTheHandshakeIsOurPage(t *testing.T) {
	client := fstest.MapFS{"index.html": {Data: []byte(`<meta name="couchplay-page-key" content="` + pageKeyPlaceholder + `">`)}}
	s := New(Config{Client: client}, nil, room.New(1))
	rec := httptest.NewRecorder()
	s.http.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	page := rec.Body.String()
	if strings.Contains(page, pageKeyPlaceholder) || !strings.Contains(page, s.pageKey) || len(s.pageKey) < 32 {
		t.Fatalf("served page %q does not carry the key", page)
	}
	if cc := rec.Header().Get("Cache-Control"); cc != "no-store" {
		t.Errorf("index.html Cache-Control = %q, want no-store", cc)
	}
	handshake := func(query string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://127.0.0.1:8000/ws"+query, nil)
		r.Header.Set("Origin", "http://proxy.example:8080") // the Host is the rewritten upstream's
		return r
	}
	if !s.originAllowed(handshake("?k=" + s.pageKey)) {
		t.Error("the right page key was refused")
	}
	for _, q := range []string{"", "?k=", "?k=" + strings.Repeat("0", len(s.pageKey))} {
		if s.originAllowed(handshake(q)) {
			t.Errorf("handshake %q allowed", q)
		}
	}
	// A browser that does send fetch metadata is judged by it, key or not.
	r := handshake("?k=" + s.pageKey)
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	if s.originAllowed(r) {
		t.Error("a cross-site request with the key was allowed")
	}
}
