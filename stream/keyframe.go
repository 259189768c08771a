package stream

import (
	"sync/atomic"
	"time"
)

// pliInterval throttles keyframes forced by picture-loss reports (PLI/FIR).
// Every viewer shares the one encoder, so without it each viewer's loss would
// force a keyframe (5-10x the bytes of a delta frame) on all of them; a lossy
// phone sending a PLI per frame would turn the stream into keyframes only.
const pliInterval = 500 * time.Millisecond

// keyframeGate decides which frames are forced keyframes. A join (or a new
// game) is always served on the next frame; a picture loss is served on the
// next frame at least pliInterval after the last keyframe, never dropped.
// join and loss are safe from any goroutine; take runs on the encoding one.
type keyframeGate struct {
	joined atomic.Bool // a viewer joined: it can only start on a keyframe
	lost   atomic.Bool // a viewer reported picture loss
	last   time.Time   // the last keyframe; owned by take's goroutine
}

func (g *keyframeGate) join() { g.joined.Store(true) }
func (g *keyframeGate) loss() { g.lost.Store(true) }

// joining reports whether a viewer waits for its first keyframe.
func (g *keyframeGate) joining() bool { return g.joined.Load() }

// take reports whether the frame encoded at now must be a forced keyframe.
func (g *keyframeGate) take(now time.Time) bool {
	if g.joined.Swap(false) {
		g.lost.Store(false) // the keyframe serves the loss too
		g.last = now
		return true
	}
	if !g.last.IsZero() && now.Sub(g.last) < pliInterval {
		return false // a pending loss waits for the window to end
	}
	if g.lost.CompareAndSwap(true, false) {
		g.last = now
		return true
	}
	return false
}

// encoded records a keyframe the encoder made by itself (it serves a loss as
// well as a forced one).
func (g *keyframeGate) encoded(now time.Time, keyframe bool) {
	if keyframe {
		g.last = now
	}
}
