package signal

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/coder/websocket"

	"couchplay/emu"
	"couchplay/internal/tlscert"
	"couchplay/lan"
	"couchplay/room"
	"couchplay/stream"
)

// Config configures the coordinator.
type Config struct {
	Listen string // host:port; port 0 picks a free one
	// NextPorts: when Listen's port is busy, try this many ports after it
	// (a double-click while the default port is taken); 0 fails at once.
	NextPorts      int
	Version        string   // reported by /healthz
	TrustedOrigins []string // extra Origin hosts accepted on /ws (proxies that rewrite Host)
	Client         fs.FS    // the web client (assets.Files)
	// Console is the game library and commands (play, stop, reset, save
	// states), and what runs now. Nil (tests of the transport alone): the
	// page is told a game runs, nothing more, and has no library.
	Console *emu.Console
	Logger  *slog.Logger
	// OnNewRoomCode is called (on a request's goroutine) when wrong codes
	// made a new room code (someone was guessing): the host says so where
	// it said the old one. Nil: only the log says it.
	OnNewRoomCode func(code string, wrongCodes int)
	// HTTPSDir: serve HTTPS (and redirect plain HTTP on the same port) with
	// the self-signed certificate kept in this directory, made on first use
	// (https.go). "" serves plain HTTP.
	HTTPSDir string

	// Limits (limits.go); zero means the Default… constant.
	MaxConnsPerIP  int           // signalling connections (WebSockets and poll sessions) per address
	MaxConns       int           // signalling connections in all
	MaxWHEPPerIP   int           // WHEP sessions per address
	JoinBurstPerIP int           // join attempts an address may make at once…
	JoinRatePerIP  float64       // …and per second after that
	JoinBurst      int           // the same for all addresses together
	JoinRate       float64       //
	JoinTimeout    time.Duration // a signalling connection must join within this
	ReadTimeout    time.Duration // reading one request (a long-poll recv extends it)
	IdleTimeout    time.Duration // a keep-alive connection with no request
	// Open TCP connections (connlimit.go), per address and in all; zero
	// means DefaultMaxOpenConnsPerIP / DefaultMaxOpenConns.
	MaxOpenConnsPerIP int
	MaxOpenConns      int
}

// Server is the HTTP server, signalling and room.
type Server struct {
	cfg  Config
	log  *slog.Logger
	hub  *stream.Hub
	room *room.Room

	ln   net.Listener
	http *http.Server
	urls []string

	portNotice string // set by Start when the port had to move

	tls  *tls.Config   // nil: plain HTTP (https.go)
	cert *tlscert.Cert // the HTTPS certificate, with tls

	polls pollSessions // sessions carried by HTTP long-polling
	wheps whepSessions // WHEP viewers

	limits    limits
	conns     countLimiter // signalling connections
	whepConns countLimiter // WHEP sessions
	joins     rateLimiter  // join attempts
	cop       *http.CrossOriginProtection
	pageKey   string          // written into index.html, proves a handshake comes from our page (pagekey.go)
	served    servedNames     // the names the host answers to (hostcheck.go)
	openConns *connCap        // open TCP connections (connlimit.go)
	addrLog   *addrLogLimiter // per-address log lines (loglimit.go)
	// libraryTurns throttles library replies per member (game.go).
	libraryTurns *throttle

	mu       sync.Mutex
	sessions map[*session]struct{}
	closing  bool
	wg       sync.WaitGroup           // session goroutines and the HTTP server's Serve
	bg       sync.WaitGroup           // work sessions hand off (track, after): game commands, dropping a client, timers
	timers   map[*time.Timer]struct{} // after's, not fired yet

	gameMu sync.Mutex // orders welcome messages and game broadcasts
}

// ErrPortBusy means the listen address is taken by another program.
var ErrPortBusy = errors.New("address already in use")

// New builds a server around the media hub and the room.
func New(cfg Config, hub *stream.Hub, rm *room.Room) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	s := &Server{cfg: cfg, log: cfg.Logger, hub: hub, room: rm, sessions: map[*session]struct{}{},
		limits: cfg.limits(), cop: http.NewCrossOriginProtection(), pageKey: room.NewToken(), timers: map[*time.Timer]struct{}{},
		served: newServedNames(), addrLog: newAddrLogLimiter(addrLogEvery)}
	s.libraryTurns = newThrottle(s.after)
	s.openConns = newConnCap(cfg.MaxOpenConnsPerIP, cfg.MaxOpenConns, s.connRefused, s.connEvicted)
	s.conns = countLimiter{what: "connections", maxPerIP: s.limits.maxConnsPerIP, max: s.limits.maxConns}
	s.whepConns = countLimiter{what: "WHEP sessions", maxPerIP: s.limits.maxWHEPPerIP}
	s.joins = rateLimiter{burstPerIP: s.limits.joinBurstPerIP, ratePerIP: s.limits.joinRatePerIP,
		burst: s.limits.joinBurst, rate: s.limits.joinRate}
	if cfg.Console != nil {
		cfg.Console.OnChange(func(emu.GameStatus) { s.broadcastGame() })
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.handleHealth)
	mux.HandleFunc("GET /ws", s.handleWebSocket)
	mux.HandleFunc("POST /poll/open", s.handlePollOpen)
	mux.HandleFunc("POST /poll/send", s.handlePollSend)
	mux.HandleFunc("GET /poll/recv", s.handlePollRecv)
	mux.HandleFunc("POST /whep", s.handleWHEP)
	mux.HandleFunc("DELETE /whep/{id}", s.handleWHEPDelete)
	mux.Handle("GET /", s.clientHandler())
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout: s.limits.readTimeout, IdleTimeout: s.limits.idleTimeout,
		ConnState: s.openConns.setState,
		ErrorLog:  slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn)}
	return s
}

// noCache makes browsers revalidate the client, so an upgraded host never
// serves a page that speaks the old protocol from cache.
func noCache(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		h.ServeHTTP(w, r)
	})
}

// Start binds the listen address and starts serving; then URLs, JoinURLs,
// RoomCode, Fingerprint and PortNotice say where (the host prints them).
func (s *Server) Start() error {
	ln, err := s.listen()
	if err != nil {
		return err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	// The connection cap sits under the TLS sniffer: it counts sockets.
	ln = &capListener{Listener: ln, cap: s.openConns}
	if s.cfg.HTTPSDir != "" {
		if err := s.setupHTTPS(ln.Addr().(*net.TCPAddr).IP); err != nil {
			ln.Close()
			return err
		}
		ln = newSniffListener(ln, s.tls, s.http.ReadHeaderTimeout)
		s.http.Handler = s.redirectPlain(s.http.Handler)
	}
	// Outermost: a name the host does not serve gets nothing else (hostcheck.go).
	s.http.Handler = s.checkHost(s.http.Handler)
	s.urls = serveURLs(s.scheme(), ln.Addr().(*net.TCPAddr).IP, port)
	s.log.Info("serving", "urls", strings.Join(s.urls, " "), "https_fingerprint", s.Fingerprint())
	s.serve(ln)
	return nil
}

// serve answers on ln (tests give it an in-memory listener).
func (s *Server) serve(ln net.Listener) {
	s.ln = ln
	s.wg.Add(1) // Shutdown waits for it, with the sessions
	go func() {
		defer s.wg.Done()
		if err := s.http.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server stopped", "err", err)
		}
	}()
}

// listen binds cfg.Listen, or with NextPorts the first free port after it,
// and says which when it had to move.
func (s *Server) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.cfg.Listen)
	host, portText, splitErr := net.SplitHostPort(s.cfg.Listen)
	first, _ := strconv.Atoi(portText)
	for next := 1; err != nil && errors.Is(err, syscall.EADDRINUSE) && splitErr == nil && first > 0 && next <= s.cfg.NextPorts; next++ {
		addr := net.JoinHostPort(host, strconv.Itoa(first+next))
		var nextErr error
		if ln, nextErr = net.Listen("tcp", addr); nextErr == nil {
			s.portNotice = fmt.Sprintf("port %d is busy (another program, or another couchplay); serving on port %d instead", first, first+next)
			s.log.Warn(s.portNotice)
			return ln, nil
		}
	}
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			tried := ""
			if s.cfg.NextPorts > 0 {
				tried = fmt.Sprintf(" and the %d ports after it", s.cfg.NextPorts)
			}
			return nil, fmt.Errorf("cannot listen on %s%s: %w (another program, or another couchplay, is using that port; pick another with --listen)", s.cfg.Listen, tried, ErrPortBusy)
		}
		return nil, fmt.Errorf("cannot listen on %s: %w", s.cfg.Listen, err)
	}
	return ln, nil
}

// PortNotice says the host moved to another port because its own was busy, or is "".
func (s *Server) PortNotice() string { return s.portNotice }

// URLs are the addresses the page is served at; the first is the one to share.
func (s *Server) URLs() []string { return s.urls }

// Addr is the address the server listens on (the real port with port 0),
// nil before Start.
func (s *Server) Addr() *net.TCPAddr {
	if s.ln == nil {
		return nil
	}
	addr, _ := s.ln.Addr().(*net.TCPAddr)
	return addr
}

// Scheme is "https" with --https, else "http".
func (s *Server) Scheme() string { return s.scheme() }

// Room is the server's room.
func (s *Server) Room() *room.Room { return s.room }

// Shutdown closes every socket and stops serving.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for t := range s.timers {
		if t.Stop() {
			s.bg.Done() // it will never run
		}
	}
	clear(s.timers)
	sessions := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.mu.Unlock()
	// Tell every browser why, give the transports a moment to deliver it, then end.
	for _, ss := range sessions {
		ss.reply(errorMessage(CodeShutdown, "the host is shutting down"))
		ss.closeAfterFlush(websocket.StatusGoingAway, "the host is shutting down")
	}
	s.stopPolling()
	err := s.http.Shutdown(ctx) // waits for long-polls, which the close above answers
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
	}
	for _, ss := range sessions {
		ss.finish()
	}
	// What the sessions handed off (a game command starting a core, a drop)
	// ends with them: the host closes the game only after this.
	bg := make(chan struct{})
	go func() { s.bg.Wait(); close(bg) }()
	select {
	case <-bg:
	case <-ctx.Done():
		if err == nil {
			err = ctx.Err()
		}
	}
	return err
}

// track runs f on a goroutine of its own that Shutdown waits for; once the
// host is shutting down it runs nothing (Shutdown finishes every session
// itself) and reports false.
func (s *Server) track(f func()) bool {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return false
	}
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		f()
	}()
	return true
}

// after runs f after d on its own goroutine, unless the server shuts down
// first: Shutdown stops the timers that have not fired and waits for the
// ones that have (s.bg), so nothing a session scheduled runs after it.
func (s *Server) after(d time.Duration, f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return
	}
	s.bg.Add(1)
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		defer s.bg.Done()
		s.mu.Lock() // t is set: after holds the lock until it is
		delete(s.timers, t)
		s.mu.Unlock()
		f()
	})
	s.timers[t] = struct{}{}
}

// serveURLs lists the URLs a browser can use: the listen IP itself, or for a
// wildcard listen every LAN address (the QR code takes the first) then localhost.
func serveURLs(scheme string, ip net.IP, port int) []string {
	url := func(ip net.IP) string {
		return scheme + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(port)) + "/"
	}
	if !ip.IsUnspecified() {
		return []string{url(ip)}
	}
	var urls []string
	for _, lanIP := range lan.LANAddresses() {
		urls = append(urls, url(lanIP))
	}
	return append(urls, url(net.IPv4(127, 0, 0, 1)))
}

// Health is the /healthz body.
type Health struct {
	Status     string `json:"status"`
	Version    string `json:"version"`
	Peers      int    `json:"peers"`
	Players    int    `json:"players"`
	Spectators int    `json:"spectators"`
	Goroutines int    `json:"goroutines"`
	VideoKbps  int    `json:"videoKbps"` // the video encoder's target: congestion control lowers it on a slow link
	// Members: every page that joined, with how its media travels.
	Members []MemberMedia `json:"members"`
}

// MemberMedia is one joined page in Health: its slot (0: spectator) and its
// media (MediaWebRTC or MediaWebSocket).
type MemberMedia struct {
	Slot  int    `json:"slot"`
	Media string `json:"media"`
}

// Members lists the joined pages and their media, players by slot first.
func (s *Server) Members() []MemberMedia {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		list = append(list, ss)
	}
	s.mu.Unlock()
	out := []MemberMedia{}
	for _, ss := range list {
		ss.mu.Lock()
		m, media, over := ss.member, ss.media, ss.finished
		ss.mu.Unlock()
		if m == nil || over {
			continue
		}
		out = append(out, MemberMedia{Slot: s.room.Slot(m), Media: media})
	}
	slices.SortFunc(out, func(a, b MemberMedia) int {
		if a.Slot == 0 || b.Slot == 0 {
			return cmp.Compare(b.Slot, a.Slot) // spectators last
		}
		return cmp.Compare(a.Slot, b.Slot)
	})
	return out
}

func (s *Server) handleHealth(w http.ResponseWriter, r *http.Request) {
	players, spectators := s.room.Roster()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(Health{
		Status: "ok", Version: s.cfg.Version, Peers: s.hub.Connected(),
		Players: len(players), Spectators: spectators, Goroutines: runtime.NumGoroutine(),
		VideoKbps: s.hub.VideoKbps(), Members: s.Members(),
	})
}

// upgradeHelp answers a plain GET /ws: the usual cause is a reverse proxy that
// does not forward the Upgrade/Connection headers. cloud-game fails silently
// there; couchplay names the cause and the fix.
const upgradeHelp = `couchplay: /ws is a WebSocket endpoint, but this request arrived without the
"Upgrade: websocket" and "Connection: Upgrade" headers. A reverse proxy between
the browser and couchplay most likely dropped them. Fix the proxy:

nginx (in the location that proxies to couchplay):
    proxy_http_version 1.1;
    proxy_set_header Upgrade $http_upgrade;
    proxy_set_header Connection "upgrade";

apache2 (a2enmod proxy proxy_http proxy_wstunnel rewrite):
    RewriteEngine on
    RewriteCond %{HTTP:Upgrade} =websocket [NC]
    RewriteRule ^/(.*)$ ws://127.0.0.1:8000/$1 [P,L]
    ProxyPass / http://127.0.0.1:8000/
`

func (s *Server) handleWebSocket(w http.ResponseWriter, r *http.Request) {
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		// One line per address now and then (loglimit.go): a page retrying
		// through such a proxy, or a client on purpose, repeats this.
		if ok, suppressed := s.addrLog.allow("upgrade", clientIP(r)); ok {
			s.log.Warn("GET /ws without WebSocket upgrade headers: a reverse proxy probably dropped Upgrade/Connection; see the 426 body for the nginx/apache fix",
				"remote", r.RemoteAddr, "upgrade", r.Header.Get("Upgrade"), "connection", r.Header.Get("Connection"), "suppressed", suppressed)
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Upgrade", "websocket")
		w.WriteHeader(http.StatusUpgradeRequired)
		help := upgradeHelp
		if s.tls != nil { // the proxy must speak TLS to this host
			help = strings.NewReplacer("ws://", "wss://", "http://", "https://",
				"RewriteEngine on", "SSLProxyEngine on   # couchplay serves HTTPS (--https)\n    RewriteEngine on").Replace(help)
		}
		io.WriteString(w, help)
		return
	}
	s.serveWebSocket(w, r)
}

// headerHasToken reports whether a comma-separated header contains token.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
