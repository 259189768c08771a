package signal

import (
	"sync"
	"time"
)

// Lines the host logs about one client's request (a GET /ws without the
// upgrade headers, a name it does not serve, a connection over the cap) are
// rate-limited per kind and address: one client repeating itself, by bug or
// on purpose, must not fill the log. The first line of a kind from an address
// is logged, then at most one every addrLogEvery, saying how many were left
// out meanwhile.
const addrLogEvery = 10 * time.Second

// maxLogKeys is when the limiter starts forgetting quiet addresses.
const maxLogKeys = 1024

type addrLogLimiter struct {
	every time.Duration
	now   func() time.Time

	mu   sync.Mutex
	seen map[addrLogKey]*addrLogEntry
}

type addrLogKey struct{ kind, addr string }

type addrLogEntry struct {
	last       time.Time
	suppressed int
}

func newAddrLogLimiter(every time.Duration) *addrLogLimiter {
	return &addrLogLimiter{every: every, now: time.Now, seen: map[addrLogKey]*addrLogEntry{}}
}

// allow reports whether a line of kind about addr may be logged now, and how
// many such lines were left out since the last one.
func (l *addrLogLimiter) allow(kind, addr string) (ok bool, suppressed int) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	key := addrLogKey{kind, addr}
	e := l.seen[key]
	if e == nil {
		if len(l.seen) >= maxLogKeys {
			l.forget(now)
		}
		l.seen[key] = &addrLogEntry{last: now}
		return true, 0
	}
	if now.Sub(e.last) < l.every && !now.Before(e.last) {
		e.suppressed++
		return false, 0
	}
	suppressed = e.suppressed
	e.last, e.suppressed = now, 0
	return true, suppressed
}

// forget drops the entries with nothing left out that are older than every
// (their next line is logged anyway), or all of them when that is not enough.
func (l *addrLogLimiter) forget(now time.Time) {
	for k, e := range l.seen {
		if e.suppressed == 0 && now.Sub(e.last) >= l.every {
			delete(l.seen, k)
		}
	}
	if len(l.seen) >= maxLogKeys {
		clear(l.seen)
	}
}
