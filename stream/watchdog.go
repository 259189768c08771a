package stream

import (
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

// Peer life-time bounds. pion reaches Closed only when someone closes the
// connection (Close, or the far end's DTLS close_notify); a browser that never
// answers, never completes ICE or vanishes leaves it in New, Checking,
// Disconnected or Failed for ever, and the peer would hold its seat. The
// watchdog ends such a peer.
const (
	// defaultConnectTimeout: from the offer (NewPeer) or the answer
	// (AnswerPeer) to Connected. A page may still be loading its scripts.
	defaultConnectTimeout = 15 * time.Second
	// defaultDisconnectedTimeout: how long a peer may stay Disconnected (a
	// Wi-Fi blip, a phone switching networks) before it ends.
	defaultDisconnectedTimeout = 5 * time.Second
	// defaultICESilenceTimeout: no packet from the browser for this long and
	// ICE says Disconnected (pion's own default).
	defaultICESilenceTimeout = 5 * time.Second
)

// Reasons given to PeerEvents.Failed before the peer ends.
const (
	reasonFailed       = "the WebRTC connection failed (no route between browser and host?)"
	reasonNeverUp      = "the WebRTC connection never came up (no route between browser and host, or the browser went away)"
	reasonDisconnected = "the WebRTC connection was lost (the browser stopped answering)"
)

// watchdog turns connection states and time into an end: Failed at once,
// Disconnected for longer than disconnected, or no Connected within connect
// of arm. It calls end at most once, on a timer's goroutine or the caller's,
// never with its lock held.
type watchdog struct {
	connect, disconnected time.Duration
	end                   func(reason string)

	mu        sync.Mutex
	connTimer *time.Timer // armed until the first Connected
	discTimer *time.Timer // armed while Disconnected
	up        bool        // reached Connected once
	done      bool
}

func newWatchdog(connect, disconnected time.Duration, end func(reason string)) *watchdog {
	return &watchdog{connect: connect, disconnected: disconnected, end: end}
}

// arm starts the connect timeout: the offer/answer exchange has started.
func (w *watchdog) arm() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.done || w.up || w.connTimer != nil {
		return
	}
	w.connTimer = time.AfterFunc(w.connect, func() { w.fire(reasonNeverUp) })
}

// observe takes the connection's current state.
func (w *watchdog) observe(state webrtc.PeerConnectionState) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	switch state {
	case webrtc.PeerConnectionStateConnected:
		w.up = true
		stopTimer(&w.connTimer)
		stopTimer(&w.discTimer)
	case webrtc.PeerConnectionStateDisconnected:
		if w.discTimer == nil {
			w.discTimer = time.AfterFunc(w.disconnected, func() { w.fire(reasonDisconnected) })
		}
	case webrtc.PeerConnectionStateFailed:
		w.mu.Unlock()
		w.fire(reasonFailed)
		return
	case webrtc.PeerConnectionStateClosed:
		w.stopLocked()
	}
	w.mu.Unlock()
}

// fire ends the peer once.
func (w *watchdog) fire(reason string) {
	w.mu.Lock()
	if w.done {
		w.mu.Unlock()
		return
	}
	w.stopLocked()
	w.mu.Unlock()
	w.end(reason)
}

// stop disarms the watchdog for good (the peer is closing anyway).
func (w *watchdog) stop() {
	w.mu.Lock()
	w.stopLocked()
	w.mu.Unlock()
}

func (w *watchdog) stopLocked() {
	w.done = true
	stopTimer(&w.connTimer)
	stopTimer(&w.discTimer)
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
