package signal

import (
	"bytes"
	"crypto/subtle"
	"io/fs"
	"net/http"
	"time"
)

// The page key proves that a WebSocket handshake comes from our own page
// when nothing else can: Chromium sends no Sec-Fetch-Site on a handshake, and
// behind a proxy that rewrites Host without saying so (nginx's default
// proxy_pass sends no X-Forwarded-Host) its Origin matches nothing the host
// sees. The host writes a random key into index.html as it serves it; the
// page sends it back as ?k= on /ws. A page on another site cannot read our
// index.html (the same-origin policy), so it cannot learn the key: a CSRF
// token, not a secret from anyone who may load the page.

// pageKeyPlaceholder is what index.html holds where the key goes.
const pageKeyPlaceholder = "{{couchplay-page-key}}"

// pageKeyParam is the /ws query parameter that carries the key.
const pageKeyParam = "k"

// clientHandler serves the web client, index.html with the page key in it.
func (s *Server) clientHandler() http.Handler {
	files := noCache(http.FileServerFS(s.cfg.Client))
	index, err := fs.ReadFile(s.cfg.Client, "index.html")
	if err != nil || !bytes.Contains(index, []byte(pageKeyPlaceholder)) {
		return files // a client without the placeholder (tests' own): served as is
	}
	index = bytes.ReplaceAll(index, []byte(pageKeyPlaceholder), []byte(s.pageKey))
	served := time.Now()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			files.ServeHTTP(w, r)
			return
		}
		// The key is per host run: never from a cache.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		http.ServeContent(w, r, "index.html", served, bytes.NewReader(index))
	})
}

// pageKeyOK reports whether r carries this host's page key.
func (s *Server) pageKeyOK(r *http.Request) bool {
	k := r.URL.Query().Get(pageKeyParam)
	return k != "" && subtle.ConstantTimeCompare([]byte(k), []byte(s.pageKey)) == 1
}
