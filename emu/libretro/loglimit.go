package libretro

import (
	"sync"
	"time"
)

// logLinesPerSecond bounds the core's lines that reach the host's log: a core
// that logs without end (one logged 600,000 ERROR lines in 4 s) would fill
// it. A real core logs a few lines at load and now and then after.
const logLinesPerSecond = 50

// logLimiter lets through at most perSecond lines in each second (a fixed
// window) and counts the others. Its clock is injectable for tests.
type logLimiter struct {
	perSecond int
	now       func() time.Time

	mu      sync.Mutex // the core's log lines and its stdout/stderr come on two goroutines
	window  time.Time  // start of the current second
	n       int        // lines let through in it
	dropped int        // lines dropped in it
}

func newLogLimiter(perSecond int) *logLimiter {
	return &logLimiter{perSecond: perSecond, now: time.Now}
}

// allow says whether one more line may be logged now, and how many were
// dropped in the second that just ended (to be said first, once).
func (l *logLimiter) allow() (ok bool, droppedBefore int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if now.Sub(l.window) >= time.Second || now.Before(l.window) {
		droppedBefore = l.dropped
		l.window, l.n, l.dropped = now, 0, 0
	}
	if l.n < l.perSecond {
		l.n++
		return true, droppedBefore
	}
	l.dropped++
	return false, droppedBefore
}

// flush returns the lines dropped so far in this second and forgets them.
func (l *logLimiter) flush() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	d := l.dropped
	l.dropped = 0
	return d
}
