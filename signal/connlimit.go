package signal

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Open TCP connections are capped at the listener, per address and in total:
// without it, idle keep-alive connections (1,014 from one client) held the
// host at its file descriptor limit and every new request timed out
// (accept4: too many open files). Every connection counts: page loads,
// keep-alives, WebSockets, long polls, WHEP. A living room needs far fewer —
// a browser opens up to 6 connections to a host plus its signalling, so 4
// players and 16 spectators, or a proxy carrying them all from one address,
// stay well under these. When a new connection would go over a cap, the
// oldest idle keep-alive (or a connection that has not sent a request yet)
// of that address — for the total cap, of the address holding the most — is
// closed to make room; a client that keeps only busy connections gets its
// new ones refused (closed at once), with a rate-limited log line.
const (
	DefaultMaxOpenConnsPerIP = 64
	DefaultMaxOpenConns      = 256
)

// connState is what http.Server last said of a connection.
const (
	connNew      int32 = iota // accepted, no request yet (or still sniffing TLS)
	connActive                // a request is being served
	connIdle                  // a keep-alive between requests
	connHijacked              // a WebSocket: busy until it closes
)

// connCap counts the open connections.
type connCap struct {
	maxPerIP, max int
	refused       func(ip string, perIP bool) // logs a refusal
	evicted       func(ip string)             // logs an idle connection closed to make room

	mu    sync.Mutex
	perIP map[string]map[*capConn]struct{}
	total int
}

func newConnCap(maxPerIP, max int, refused func(string, bool), evicted func(string)) *connCap {
	if maxPerIP <= 0 {
		maxPerIP = DefaultMaxOpenConnsPerIP
	}
	if max <= 0 {
		max = DefaultMaxOpenConns
	}
	return &connCap{maxPerIP: maxPerIP, max: max, refused: refused, evicted: evicted, perIP: map[string]map[*capConn]struct{}{}}
}

// capConn is an accepted connection, counted until it is closed.
type capConn struct {
	net.Conn
	cap   *connCap
	ip    string
	since time.Time // when it got its current state
	state atomic.Int32
	once  sync.Once
}

func (c *capConn) Close() error {
	c.cap.release(c)
	return c.Conn.Close()
}

// NetConn is the connection under it (as tls.Conn's), for connStateOf.
func (c *capConn) NetConn() net.Conn { return c.Conn }

// admit counts c in, closing an idle connection to make room if it must; it
// reports false when c is over a cap with nothing to close.
func (k *connCap) admit(c *capConn) bool {
	k.mu.Lock()
	var victims []*capConn
	mine := k.perIP[c.ip]
	if len(mine) >= k.maxPerIP {
		v := oldestIdle(mine)
		if v == nil {
			k.mu.Unlock()
			k.refused(c.ip, true)
			return false
		}
		k.forget(v)
		victims = append(victims, v)
	}
	if len(victims) == 0 && k.total >= k.max { // (a per-address eviction freed one in total too)
		var busiest map[*capConn]struct{}
		for _, conns := range k.perIP {
			if len(conns) > len(busiest) && oldestIdle(conns) != nil {
				busiest = conns
			}
		}
		v := oldestIdle(busiest)
		if v == nil {
			k.mu.Unlock()
			k.refused(c.ip, false)
			return false
		}
		k.forget(v)
		victims = append(victims, v)
	}
	if k.perIP[c.ip] == nil {
		k.perIP[c.ip] = map[*capConn]struct{}{}
	}
	k.perIP[c.ip][c] = struct{}{}
	k.total++
	k.mu.Unlock()
	for _, v := range victims {
		v.Conn.Close() // its server goroutine sees the error and ends
		k.evicted(v.ip)
	}
	return true
}

// oldestIdle is the connection of conns that has been idle (or new) longest.
func oldestIdle(conns map[*capConn]struct{}) *capConn {
	var best *capConn
	for c := range conns {
		if s := c.state.Load(); s != connIdle && s != connNew {
			continue
		}
		if best == nil || c.since.Before(best.since) {
			best = c
		}
	}
	return best
}

// forget uncounts c (k.mu held), once.
func (k *connCap) forget(c *capConn) {
	c.once.Do(func() {
		conns := k.perIP[c.ip]
		delete(conns, c)
		if len(conns) == 0 {
			delete(k.perIP, c.ip)
		}
		k.total--
	})
}

func (k *connCap) release(c *capConn) {
	k.mu.Lock()
	k.forget(c)
	k.mu.Unlock()
}

// open is how many connections ip holds, and how many all do.
func (k *connCap) open(ip string) (perIP, total int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.perIP[ip]), k.total
}

// setState records what http.Server says of a connection (its ConnState hook).
func (k *connCap) setState(c net.Conn, state http.ConnState) {
	cc := connStateOf(c)
	if cc == nil {
		return
	}
	var s int32
	switch state {
	case http.StateNew:
		s = connNew
	case http.StateActive:
		s = connActive
	case http.StateIdle:
		s = connIdle
	case http.StateHijacked:
		s = connHijacked
	default: // closed: Close uncounts it
		return
	}
	k.mu.Lock() // since is read under it by oldestIdle
	cc.since = time.Now()
	cc.state.Store(s)
	k.mu.Unlock()
}

// connStateOf finds the capConn under what http.Server holds (a *tls.Conn
// and a peekedConn over it with --https).
func connStateOf(c net.Conn) *capConn {
	for range 4 {
		switch v := c.(type) {
		case *capConn:
			return v
		case interface{ NetConn() net.Conn }:
			c = v.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// capListener counts every accepted connection in its connCap.
type capListener struct {
	net.Listener
	cap *connCap
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := c.RemoteAddr().String()
		if host, _, err := net.SplitHostPort(ip); err == nil {
			ip = host
		}
		cc := &capConn{Conn: c, cap: l.cap, ip: ip, since: time.Now()}
		if l.cap.admit(cc) {
			return cc, nil
		}
		c.Close() // over the cap: closed at once, its descriptor freed
	}
}

// connRefused logs a connection over the cap, once in a while per address.
func (s *Server) connRefused(ip string, perIP bool) {
	if ok, suppressed := s.addrLog.allow("conns", ip); ok {
		why := fmt.Sprintf("that address has %d open connections, all busy", s.openConns.maxPerIP)
		if !perIP {
			why = fmt.Sprintf("the host has %d open connections, all busy", s.openConns.max)
		}
		s.log.Warn("refused a connection: "+why, "remote", ip, "suppressed", suppressed)
	}
}

// connEvicted logs an idle connection closed to make room, now and then per address.
func (s *Server) connEvicted(ip string) {
	if ok, suppressed := s.addrLog.allow("evict", ip); ok {
		perIP, total := s.openConns.open(ip)
		s.log.Info("closed an idle keep-alive connection to make room for a new one", "remote", ip,
			"open_from_address", perIP, "open", total, "suppressed", suppressed)
	}
}
