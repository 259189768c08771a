package signal

import (
	"net/http"
	"net/url"
	"path"
	"strings"
)

// Cross-origin requests are judged as net/http's CrossOriginProtection does
// (DESIGN §2): a browser's Sec-Fetch-Site first (same-origin and none pass,
// same-site and cross-site fail), then, for clients that send no fetch
// metadata, Origin against Host; and last --trusted-origins. A proxy that
// rewrites Host (nginx's default proxy_pass, apache's ProxyPass without
// ProxyPreserveHost) therefore needs no flag: the browser says same-origin.
// Requests with neither header (WHEP players, curl) are not a browser's and
// pass. The rule covers /ws, poll/ and WHEP alike.

// originAllowed reports whether r may use the signalling and WHEP endpoints.
// CrossOriginProtection passes safe methods unchecked; the WebSocket
// handshake is a GET, so every request is judged as an unsafe one.
func (s *Server) originAllowed(r *http.Request) bool {
	probe := r
	if r.Method != http.MethodPost && r.Method != http.MethodDelete {
		p := *r
		p.Method = http.MethodPost
		probe = &p
	}
	if s.cop.Check(probe) == nil {
		return true
	}
	origin := r.Header.Get("Origin")
	noMetadata := r.Header.Get("Sec-Fetch-Site") == ""
	return s.trustedOrigin(origin) || (noMetadata && (forwardedHostIs(r, origin) || s.pageKeyOK(r)))
}

// forwardedHostIs reports whether a proxy said the browser asked for the
// Origin's host (X-Forwarded-Host, which apache's ProxyPass adds by default,
// or Forwarded: host=). Chromium sends no Sec-Fetch-Site on a WebSocket
// handshake, so behind a proxy that rewrites Host this is how the handshake
// shows it is same-origin. A page cannot set these headers on a WebSocket or
// a fetch (they are not CORS-safelisted: a preflight would be refused), so a
// page on another site cannot claim it.
func forwardedHostIs(r *http.Request, origin string) bool {
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	for _, h := range forwardedHosts(r) {
		if h != "" && strings.EqualFold(h, u.Host) {
			return true
		}
	}
	return false
}

// trustedOrigin matches origin against --trusted-origins: a host pattern
// ("proxy:8080", "127.0.0.1:*"), or a whole-origin pattern when it has a
// scheme ("https://*.example"), as coder/websocket's OriginPatterns.
func (s *Server) trustedOrigin(origin string) bool {
	if origin == "" {
		return false
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	for _, pattern := range s.cfg.TrustedOrigins {
		target := u.Host
		if strings.Contains(pattern, "://") {
			target = origin
		}
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

// refuseOrigin answers a cross-origin request with 403 and why, readable by
// the refused page itself (the reason gives nothing away), so it can say so.
func (s *Server) refuseOrigin(w http.ResponseWriter, r *http.Request) {
	origin, site := r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")
	s.log.Warn("refused a cross-origin signalling request (a page on another site; to allow one, start couchplay with --trusted-origins)",
		"remote", r.RemoteAddr, "origin", origin, "sec_fetch_site", site, "host", r.Host)
	w.Header().Set("Access-Control-Allow-Origin", "*")
	why := "Origin " + origin + " is not this host " + r.Host
	if site != "" {
		why = "the browser says it comes from another site: Sec-Fetch-Site " + site + ", Origin " + origin
	}
	http.Error(w, "couchplay: cross-origin request refused ("+why+"); a page on another site may not use this host. "+
		"To allow that origin, start couchplay with --trusted-origins "+originHost(origin), http.StatusForbidden)
}

func originHost(origin string) string {
	if u, err := url.Parse(origin); err == nil && u.Host != "" {
		return u.Host
	}
	return "HOST:PORT"
}
