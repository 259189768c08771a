package signal

import (
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Limits on what remote clients may hold or do. A living room has a handful
// of phones and browsers (four players, up to --max-spectators watchers);
// these are generous for it and still small enough that one broken or hostile
// client on the LAN cannot exhaust the host. Behind a reverse proxy every
// client has the proxy's address, so the per-address limits are then limits
// for everyone behind it. Config fields override each (tests use small ones).
const (
	// DefaultMaxConnsPerIP bounds the signalling connections from one address:
	// WebSockets, joined or not, and long-poll sessions.
	DefaultMaxConnsPerIP = 32
	// DefaultMaxConns bounds the signalling connections in all.
	DefaultMaxConns = 64
	// DefaultMaxWHEPPerIP bounds the WHEP sessions of one address; in all they
	// are bounded by the spectator seats.
	DefaultMaxWHEPPerIP = 16
	// DefaultJoinBurstPerIP join attempts (join messages and WHEP offers: each
	// builds a PeerConnection) may come from one address at once, and
	// DefaultJoinRatePerIP per second after that (a token bucket).
	DefaultJoinBurstPerIP = 60
	DefaultJoinRatePerIP  = 5
	// DefaultJoinBurst and DefaultJoinRate are the same for all addresses together.
	DefaultJoinBurst = 120
	DefaultJoinRate  = 10
	// DefaultJoinTimeout closes a signalling connection that has not joined
	// by then (a page sends its join as the socket opens; one at the code
	// prompt closes its socket and opens a new one with the code).
	DefaultJoinTimeout = 10 * time.Second
	// MaxUnjoinedPerIP and MaxUnjoined bound the signalling connections that
	// have not joined yet, from one address and in all: a share of the
	// connection caps, so sockets that never show a code or key cannot fill
	// them. A connection over the share closes the oldest one not joined
	// (its address's first, else anyone's), which has had its chance to join.
	MaxUnjoinedPerIP = 4
	MaxUnjoined      = 16
	// DefaultReadTimeout bounds reading one request (headers and body: an SDP
	// is a few KiB). net/http lifts it once the body is read, so a long-poll
	// recv may wait longer (TestLongPollOutlastsTheReadTimeout); WebSockets
	// are hijacked, with deadlines cleared, and have their own pings.
	DefaultReadTimeout = 20 * time.Second
	// DefaultIdleTimeout closes a keep-alive connection with no request.
	DefaultIdleTimeout = 60 * time.Second
)

// CodeTooMany answers a client over a limit (a WebSocket is then closed with
// 1008 for a per-address limit or 1013 for the host's total, with the same
// reason); HTTP requests get 429 with a text/plain explanation.
const CodeTooMany = "too_many"

// limits are the effective values of the Config's limit fields.
type limits struct {
	maxConnsPerIP, maxConns, maxWHEPPerIP int
	joinBurstPerIP, joinRatePerIP         float64
	joinBurst, joinRate                   float64
	joinTimeout, readTimeout, idleTimeout time.Duration
}

func (c Config) limits() limits {
	orInt := func(v, d int) int {
		if v <= 0 {
			return d
		}
		return v
	}
	orFloat := func(v, d float64) float64 {
		if v <= 0 {
			return d
		}
		return v
	}
	orDur := func(v, d time.Duration) time.Duration {
		if v <= 0 {
			return d
		}
		return v
	}
	return limits{
		maxConnsPerIP:  orInt(c.MaxConnsPerIP, DefaultMaxConnsPerIP),
		maxConns:       orInt(c.MaxConns, DefaultMaxConns),
		maxWHEPPerIP:   orInt(c.MaxWHEPPerIP, DefaultMaxWHEPPerIP),
		joinBurstPerIP: float64(orInt(c.JoinBurstPerIP, DefaultJoinBurstPerIP)),
		joinRatePerIP:  orFloat(c.JoinRatePerIP, DefaultJoinRatePerIP),
		joinBurst:      float64(orInt(c.JoinBurst, DefaultJoinBurst)),
		joinRate:       orFloat(c.JoinRate, DefaultJoinRate),
		joinTimeout:    orDur(c.JoinTimeout, DefaultJoinTimeout),
		readTimeout:    orDur(c.ReadTimeout, DefaultReadTimeout),
		idleTimeout:    orDur(c.IdleTimeout, DefaultIdleTimeout),
	}
}

// refusal says why a client was turned away; perIP tells a per-address limit
// from the host's total.
type refusal struct {
	text  string
	perIP bool
}

// clientIP is the address a request came from (the proxy's, behind one).
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// countLimiter bounds things held at once, per address and in total.
type countLimiter struct {
	what          string // "connections", "WHEP sessions"
	maxPerIP, max int

	mu    sync.Mutex
	perIP map[string]int
	total int
}

// acquire takes one for ip; release gives it back (once, however often it
// is called). A nil release comes with the refusal.
func (l *countLimiter) acquire(ip string) (release func(), ref *refusal) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP == nil {
		l.perIP = map[string]int{}
	}
	if l.perIP[ip] >= l.maxPerIP {
		return nil, &refusal{fmt.Sprintf("too many %s from your address (%s): at most %d; close other couchplay pages or players there", l.what, ip, l.maxPerIP), true}
	}
	if l.max > 0 && l.total >= l.max {
		return nil, &refusal{fmt.Sprintf("the host has too many %s (at most %d); try again later", l.what, l.max), false}
	}
	l.perIP[ip]++
	l.total++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			l.total--
			if l.perIP[ip]--; l.perIP[ip] <= 0 {
				delete(l.perIP, ip)
			}
		})
	}, nil
}

// rateLimiter is a token bucket per address plus one for everyone.
type rateLimiter struct {
	burstPerIP, ratePerIP, burst, rate float64

	mu    sync.Mutex
	perIP map[string]*bucket
	total bucket
}

type bucket struct {
	tokens float64
	at     time.Time
	set    bool
}

// refill brings b up to now; a new bucket starts full.
func (b *bucket) refill(now time.Time, burst, rate float64) {
	if !b.set {
		b.tokens, b.at, b.set = burst, now, true
		return
	}
	b.tokens = min(burst, b.tokens+now.Sub(b.at).Seconds()*rate)
	b.at = now
}

// maxTrackedIPs is when allow starts forgetting addresses whose buckets are full again.
const maxTrackedIPs = 64

// allow takes a token for ip, or says why not.
func (l *rateLimiter) allow(ip string) *refusal {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.perIP == nil {
		l.perIP = map[string]*bucket{}
	}
	if len(l.perIP) >= maxTrackedIPs {
		for k, b := range l.perIP {
			if b.refill(now, l.burstPerIP, l.ratePerIP); b.tokens >= l.burstPerIP {
				delete(l.perIP, k)
			}
		}
	}
	b := l.perIP[ip]
	if b == nil {
		b = &bucket{}
		l.perIP[ip] = b
	}
	b.refill(now, l.burstPerIP, l.ratePerIP)
	l.total.refill(now, l.burst, l.rate)
	if b.tokens < 1 {
		return &refusal{fmt.Sprintf("too many join attempts from your address (%s); wait a few seconds, then reload", ip), true}
	}
	if l.total.tokens < 1 {
		return &refusal{"the host has too many join attempts at once; wait a few seconds, then reload", false}
	}
	b.tokens--
	l.total.tokens--
	return nil
}

// tooMany answers an HTTP request over a limit: 429 and the reason as text.
func tooMany(w http.ResponseWriter, ref *refusal) {
	w.Header().Set("Retry-After", "5")
	http.Error(w, "couchplay: "+ref.text, http.StatusTooManyRequests)
}
