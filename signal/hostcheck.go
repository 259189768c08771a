package signal

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"

	"couchplay/lan"
)

// DNS rebinding: a page on the internet (evil.test) can point its own name at
// the host's LAN IP once it has loaded; the browser then treats requests to
// evil.test:PORT as same-origin with the page, so the origin rule (origin.go)
// passes them, and the page could read index.html (with the page key), join
// and play. What gives it away is the name: the request's Host is evil.test.
// So every endpoint that changes or reveals state answers only the names the
// host serves (servedHost), and anything else gets 421 Misdirected Request.
// /healthz stays open (outside checks; it reveals no code).
//
// A reverse proxy that rewrites Host (nginx's default proxy_pass, apache's
// ProxyPass without ProxyPreserveHost) sends the upstream's address, an IP
// literal, and apache adds X-Forwarded-Host with the name the browser used.
// That name is judged too: a rebinding page aimed at the proxy must not get
// through it. A proxy reached by a name of its own (games.example) therefore
// needs --trusted-origins games.example; an IP literal needs nothing.

// servedNames is what servedHost accepts besides IP literals, localhost and
// --trusted-origins: the mDNS names the host may take and this machine's name.
type servedNames struct {
	names map[string]bool
}

// mdnsName matches couchplay.local and couchplay-N.local (lan.Advertiser's
// choices when the name is taken).
var mdnsName = regexp.MustCompile(`^` + regexp.QuoteMeta(strings.TrimSuffix(lan.HostName, ".local")) + `(-[0-9]+)?\.local$`)

func newServedNames() servedNames {
	n := servedNames{names: map[string]bool{"localhost": true}}
	if host, err := os.Hostname(); err == nil && host != "" {
		host = normalHost(host)
		base := strings.TrimSuffix(host, ".local")
		n.names[host] = true
		n.names[base] = true
		n.names[base+".local"] = true // Avahi / Bonjour
		if short, _, ok := strings.Cut(base, "."); ok {
			n.names[short] = true // a host name given as an FQDN
		}
	}
	return n
}

// hostName is the name in a Host header ("name:port", "[v6]:port", "name"),
// lower case, without a trailing dot.
func hostName(hostport string) string {
	h := hostport
	if strings.HasPrefix(h, "[") {
		if end := strings.IndexByte(h, ']'); end > 0 {
			h = h[1:end]
		}
	} else if name, _, err := net.SplitHostPort(h); err == nil {
		h = name
	}
	return normalHost(h)
}

func normalHost(h string) string { return strings.TrimSuffix(strings.ToLower(h), ".") }

// isIPLiteral: an address, IPv6 with or without a zone. A browser's origin
// for it is that very address, so no name can be rebound to it.
func isIPLiteral(h string) bool {
	if i := strings.IndexByte(h, '%'); i >= 0 {
		h = h[:i]
	}
	return net.ParseIP(h) != nil
}

// servedHost reports whether name (from hostName) is one this host answers to.
func (s *Server) servedHost(name string) bool {
	switch {
	case name == "" || isIPLiteral(name):
		return true // "": HTTP/1.0 without Host, never a browser's
	case name == "localhost" || strings.HasSuffix(name, ".localhost"):
		return true // RFC 6761: browsers resolve them to loopback themselves
	case s.served.names[name] || mdnsName.MatchString(name):
		return true
	}
	return s.trustedHost(name)
}

// trustedHost matches name against the host part of each --trusted-origins
// pattern ("proxy:8080" → proxy, "https://*.example" → *.example). The port
// does not matter here: a rebinding page cannot pick the name, whatever port.
func (s *Server) trustedHost(name string) bool {
	for _, pattern := range s.cfg.TrustedOrigins {
		p := pattern
		if _, rest, ok := strings.Cut(p, "://"); ok {
			p = rest
		}
		if i := strings.IndexByte(p, '/'); i >= 0 {
			p = p[:i]
		}
		if ok, _ := path.Match(hostName(p), name); ok {
			return true
		}
	}
	return false
}

// requestedHosts are the names a request was sent to: its Host, and the
// names a proxy says the browser used (forwardedHosts).
func requestedHosts(r *http.Request) []string {
	return append([]string{r.Host}, forwardedHosts(r)...)
}

// forwardedHosts are the names a proxy says the browser used:
// X-Forwarded-Host and Forwarded: host=, the first hop of each.
func forwardedHosts(r *http.Request) []string {
	var hosts []string
	if v := r.Header.Get("X-Forwarded-Host"); v != "" {
		hosts = append(hosts, strings.TrimSpace(strings.Split(v, ",")[0]))
	}
	if v := r.Header.Get("Forwarded"); v != "" {
		for _, pair := range strings.Split(strings.Split(v, ",")[0], ";") {
			if k, val, ok := strings.Cut(strings.TrimSpace(pair), "="); ok && strings.EqualFold(k, "host") {
				hosts = append(hosts, strings.Trim(val, `"`))
			}
		}
	}
	return hosts
}

// checkHost answers 421 to a request for a name the host does not serve.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			next.ServeHTTP(w, r)
			return
		}
		for _, h := range requestedHosts(r) {
			if name := hostName(h); !s.servedHost(name) {
				s.refuseHost(w, r, h, name)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func (s *Server) refuseHost(w http.ResponseWriter, r *http.Request, raw, name string) {
	header := "Host " + raw
	if raw != r.Host {
		header = "the proxy's forwarded host " + raw
	}
	if ok, suppressed := s.addrLog.allow("host", clientIP(r)); ok {
		s.log.Warn("refused a request for a name this host does not serve (a web page that pointed its own name at this host — DNS rebinding — or a proxy that passes its own name: allow that with --trusted-origins)",
			"remote", r.RemoteAddr, "host", r.Host, "refused_name", name, "path", r.URL.Path, "suppressed", suppressed)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusMisdirectedRequest)
	fmt.Fprintf(w, "couchplay: this host does not serve the name %q (%s).\n"+
		"It answers to its IP addresses, localhost, %s and this machine's name; a page on another site that points its own name at this host (DNS rebinding) is refused.\n"+
		"If a reverse proxy passes its own name, start couchplay with --trusted-origins %s\n",
		name, header, lan.HostName, name)
}
