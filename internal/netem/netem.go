// Package netem emulates one direction of a home network link in user space:
// loss (random or in bursts), delay with jitter (order kept), reordering and a
// rate cap with a router queue. Linux's netem would do this in the kernel, but
// it is not available here (no CAP_NET_ADMIN on CI), and a user-space link
// can sit in any relay: cmd lossyturn puts two of them (one per direction)
// inside a TURN server that the browser's media is forced through.
package netem

import (
	"math/rand/v2"
	"net"
	"sort"
	"sync"
	"time"
)

// Conditions of one direction. The zero value is a perfect link.
type Conditions struct {
	// Loss is the fraction of packets lost, 0..1.
	Loss float64 `json:"loss"`
	// Burst is the mean length of a loss burst in packets (a Gilbert–Elliott
	// model: a bad state loses every packet). 1 or less: independent losses.
	Burst float64 `json:"burst"`
	// DelayMs is the one-way delay; JitterMs spreads it uniformly by ± that
	// much. A packet never overtakes the one before it (Wi-Fi delivers in order)
	// unless it is picked for reordering.
	DelayMs  float64 `json:"delayMs"`
	JitterMs float64 `json:"jitterMs"`
	// Reorder is the fraction of packets that ignore the order rule: they
	// keep their own jittered delay and may arrive before earlier ones.
	Reorder float64 `json:"reorder"`
	// RateKbps caps the link (0: no cap). Packets wait in a router queue of
	// QueueMs (default DefaultQueueMs) at that rate; what does not fit is dropped.
	RateKbps int     `json:"rateKbps"`
	QueueMs  float64 `json:"queueMs"`
}

// DefaultQueueMs is the router queue behind a rate cap: a home router buffers
// somewhere between tens and hundreds of ms; 100 ms makes a congested link
// show both delay (for delay-based congestion control) and loss.
const DefaultQueueMs = 100

// Stats count what a link did.
type Stats struct {
	Sent      int64 `json:"sent"`      // packets offered
	Lost      int64 `json:"lost"`      // lost to the loss model
	Overflow  int64 `json:"overflow"`  // dropped by a full queue behind the rate cap
	Delivered int64 `json:"delivered"` // handed on
	Bytes     int64 `json:"bytes"`     // bytes delivered
}

type packet struct {
	due  time.Time
	data []byte
	addr net.Addr
}

// Link is one direction. Send queues a packet; a goroutine of the link hands
// it to deliver when it is due, in due order. Safe for concurrent use.
type Link struct {
	deliver func(data []byte, addr net.Addr)
	kick    chan struct{}
	done    chan struct{}

	mu      sync.Mutex
	c       Conditions
	rng     *rand.Rand
	bad     bool      // Gilbert–Elliott state: in a burst
	lastDue time.Time // the order rule: nothing in order is due before this
	txFree  time.Time // the rate cap: when the link finishes sending what it has
	queue   []packet  // sorted by due
	stats   Stats
	closed  bool
}

// NewLink starts a link with conditions c whose random choices follow seed
// (the same seed and packets give the same losses). deliver runs on the
// link's goroutine, one packet at a time.
func NewLink(c Conditions, seed uint64, deliver func(data []byte, addr net.Addr)) *Link {
	l := &Link{
		deliver: deliver,
		kick:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		c:       c,
		rng:     rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
	}
	go l.run()
	return l
}

// Set changes the conditions from the next packet on.
func (l *Link) Set(c Conditions) {
	l.mu.Lock()
	l.c = c
	if c.Loss <= 0 {
		l.bad = false
	}
	l.mu.Unlock()
}

// Conditions returns the conditions in force.
func (l *Link) Conditions() Conditions {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}

// Stats returns the counts so far.
func (l *Link) Stats() Stats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stats
}

// Send offers one packet (copied) to the link.
func (l *Link) Send(data []byte, addr net.Addr) {
	now := time.Now()
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.stats.Sent++
	if l.lose() {
		l.stats.Lost++
		l.mu.Unlock()
		return
	}
	c := l.c
	start := now
	if c.RateKbps > 0 {
		queueMs := c.QueueMs
		if queueMs <= 0 {
			queueMs = DefaultQueueMs
		}
		if l.txFree.Before(now) {
			l.txFree = now
		}
		if l.txFree.Sub(now) > msToDuration(queueMs) {
			l.stats.Overflow++
			l.mu.Unlock()
			return
		}
		// The packet leaves the router once everything before it and itself are sent.
		l.txFree = l.txFree.Add(time.Duration(float64(len(data)*8) / float64(c.RateKbps) * float64(time.Millisecond)))
		start = l.txFree
	}
	delay := c.DelayMs
	if c.JitterMs > 0 {
		delay += (2*l.rng.Float64() - 1) * c.JitterMs
	}
	due := start.Add(msToDuration(max(delay, 0)))
	if c.Reorder > 0 && l.rng.Float64() < c.Reorder {
		// Out of order: its own delay, and the order rule does not move.
	} else {
		if due.Before(l.lastDue) {
			due = l.lastDue
		}
		l.lastDue = due
	}
	p := packet{due: due, data: append([]byte(nil), data...), addr: addr}
	i := sort.Search(len(l.queue), func(i int) bool { return l.queue[i].due.After(due) })
	l.queue = append(l.queue, packet{})
	copy(l.queue[i+1:], l.queue[i:])
	l.queue[i] = p
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// lose draws the loss model for one packet. l.mu held.
func (l *Link) lose() bool {
	c := l.c
	if c.Loss <= 0 {
		return false
	}
	if c.Loss >= 1 {
		return true
	}
	if c.Burst <= 1 {
		return l.rng.Float64() < c.Loss
	}
	// Leave a burst with 1/Burst per packet (mean length Burst); enter one so
	// that the time spent in bursts is Loss: p/(p+r) = Loss.
	leave := 1 / c.Burst
	enter := c.Loss * leave / (1 - c.Loss)
	if l.bad {
		if l.rng.Float64() < leave {
			l.bad = false
		}
	} else if l.rng.Float64() < enter {
		l.bad = true
	}
	return l.bad
}

// Close stops the link; what was queued is dropped.
func (l *Link) Close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		l.queue = nil
		close(l.done)
	}
	l.mu.Unlock()
}

func (l *Link) run() {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var ready []packet
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		now := time.Now()
		n := 0
		for n < len(l.queue) && !l.queue[n].due.After(now) {
			n++
		}
		ready = append(ready[:0], l.queue[:n]...)
		l.queue = l.queue[:copy(l.queue, l.queue[n:])]
		wait := time.Duration(-1)
		if len(l.queue) > 0 {
			wait = l.queue[0].due.Sub(now)
		}
		for _, p := range ready {
			l.stats.Delivered++
			l.stats.Bytes += int64(len(p.data))
		}
		l.mu.Unlock()
		for _, p := range ready {
			l.deliver(p.data, p.addr)
		}
		clear(ready)
		if len(ready) > 0 {
			continue // more may have come due while delivering
		}
		if wait < 0 {
			select {
			case <-l.kick:
			case <-l.done:
				return
			}
			continue
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-l.kick:
			timer.Stop() // Go ≥ 1.23: no stale tick is left to drain
		case <-l.done:
			return
		}
	}
}

func msToDuration(ms float64) time.Duration { return time.Duration(ms * float64(time.Millisecond)) }
