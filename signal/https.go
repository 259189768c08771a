package signal

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"couchplay/internal/tlscert"
	"couchplay/lan"
)

// --https (DESIGN §4): the page needs a secure context for the Gamepad API,
// WebCodecs, AudioWorklet and Wake Lock, and a phone opening a LAN IP only
// gets one over HTTPS. The certificate is self-signed, made once and kept in
// Config.HTTPSDir; the same port also answers plain HTTP, with a redirect.

// setupHTTPS loads (or makes) the certificate.
func (s *Server) setupHTTPS(listenIP net.IP) error {
	cert, err := tlscert.LoadOrCreate(tlscert.Options{Dir: s.cfg.HTTPSDir, Names: certNames(), IPs: certIPs(listenIP), Logger: s.log})
	if err != nil {
		return fmt.Errorf("cannot set up HTTPS in %s: %w", s.cfg.HTTPSDir, err)
	}
	s.cert = cert
	s.tls = &tls.Config{
		Certificates: []tls.Certificate{cert.TLS},
		MinVersion:   tls.VersionTLS12,
		// HTTP/1.1 only, as over plain HTTP: a browser would otherwise try
		// WebSockets over HTTP/2 (RFC 8441), which coder/websocket does not speak.
		NextProtos: []string{"http/1.1"},
	}
	return nil
}

// Fingerprint is the SHA-256 fingerprint of the HTTPS certificate
// ("AA:BB:…", what the browser's certificate viewer shows), "" over plain HTTP.
func (s *Server) Fingerprint() string {
	if s.cert == nil {
		return ""
	}
	return s.cert.Fingerprint
}

// scheme of the URLs the server prints.
func (s *Server) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// certNames are the DNS names a new certificate covers: loopback, the mDNS
// names the host may take (lan.Advertiser), and this machine's own name.
func certNames() []string {
	names := []string{"localhost", lan.HostName}
	base := strings.TrimSuffix(lan.HostName, ".local")
	for n := 2; n <= 9; n++ {
		names = append(names, fmt.Sprintf("%s-%d.local", base, n))
	}
	if host, err := os.Hostname(); err == nil && host != "" {
		host = strings.TrimSuffix(host, ".local")
		names = append(names, host, host+".local") // .local: Avahi / Bonjour
	}
	return names
}

// certIPs are the addresses a new certificate covers: loopback, the listen
// IP and the LAN addresses of the moment (a later DHCP change only adds a
// name-mismatch to the warning the browser shows for self-signed anyway).
func certIPs(listenIP net.IP) []net.IP {
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if listenIP != nil && !listenIP.IsUnspecified() {
		ips = append(ips, listenIP)
	}
	return append(ips, lan.LANAddresses()...)
}

// redirectPlain answers requests that came over plain HTTP to the HTTPS port
// with a redirect to the same URL over https. 307, not 301/308: browsers keep
// permanent redirects, and the same address may serve plain HTTP tomorrow.
func (s *Server) redirectPlain(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS != nil {
			next.ServeHTTP(w, r)
			return
		}
		host := r.Host
		if host == "" && s.ln != nil {
			host = s.ln.Addr().String()
		}
		target := "https://" + host + r.URL.RequestURI()
		w.Header().Set("Location", target)
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusTemporaryRedirect)
		fmt.Fprintf(w, "couchplay: this host serves HTTPS; open %s\n"+
			"The first time, the browser warns about the self-signed certificate: compare its SHA-256 fingerprint with the one in the couchplay window:\n%s\n",
			target, s.Fingerprint())
	})
}

// sniffListener serves TLS and plain HTTP on one port: it reads each
// connection's first byte (a TLS record starts with 0x16, a handshake) and
// hands the connection to http.Server as a *tls.Conn (so r.TLS is set) or as
// it is (so redirectPlain can answer it). The peek runs on its own goroutine,
// so a client that connects and sends nothing never holds up Accept.
type sniffListener struct {
	net.Listener
	tls     *tls.Config
	timeout time.Duration // for the first byte

	conns chan net.Conn
	errs  chan error
	done  chan struct{}
	once  sync.Once

	mu      sync.Mutex
	pending map[net.Conn]struct{} // connections still being sniffed
}

func newSniffListener(ln net.Listener, conf *tls.Config, timeout time.Duration) *sniffListener {
	l := &sniffListener{Listener: ln, tls: conf, timeout: timeout, conns: make(chan net.Conn), errs: make(chan error),
		done: make(chan struct{}), pending: map[net.Conn]struct{}{}}
	go l.acceptLoop()
	return l
}

func (l *sniffListener) acceptLoop() {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			// Unbuffered: the next Accept takes it, after http.Server's own back-off.
			select {
			case l.errs <- err:
			case <-l.done:
				return
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		l.mu.Lock()
		l.pending[c] = struct{}{}
		l.mu.Unlock()
		go l.sniff(c)
	}
}

func (l *sniffListener) sniff(c net.Conn) {
	var first [1]byte
	c.SetReadDeadline(time.Now().Add(l.timeout))
	_, err := io.ReadFull(c, first[:])
	c.SetReadDeadline(time.Time{})
	l.mu.Lock()
	delete(l.pending, c)
	l.mu.Unlock()
	if err != nil {
		c.Close() // nothing sent in time, or closed: nothing to answer
		return
	}
	var out net.Conn = &peekedConn{Conn: c, r: io.MultiReader(bytes.NewReader(first[:]), c)}
	if first[0] == 0x16 {
		out = tls.Server(out, l.tls)
	}
	select {
	case l.conns <- out:
	case <-l.done:
		c.Close()
	}
}

func (l *sniffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errs:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *sniffListener) Close() error {
	err := net.ErrClosed
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
		l.mu.Lock()
		for c := range l.pending {
			c.Close() // http.Server does not know them yet, so Shutdown would not
		}
		l.mu.Unlock()
	})
	return err
}

// peekedConn replays the sniffed byte before the rest of the connection.
type peekedConn struct {
	net.Conn
	r io.Reader
}

func (c *peekedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// NetConn is the sniffed connection (the connection cap finds its own under it).
func (c *peekedConn) NetConn() net.Conn { return c.Conn }

// CloseWrite keeps http.Server's graceful close of a plain connection
// (it half-closes TCP before closing after an error reply).
func (c *peekedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
