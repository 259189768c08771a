package stream

import (
	"testing"
	"time"
)

// A viewer whose every frame is lost sends a PLI per frame: the hub forces at
// most one keyframe per pliInterval for everybody; a join is never held back;
// a loss inside the window is served when it ends, not dropped.
func TestPLIKeyframesThrottled(t *testing.T) {
	h := newTestHub(t, Settings{})
	start := time.Unix(1e9, 0)
	frame := time.Second / 60
	at := func(n int) time.Time { return start.Add(time.Duration(n) * frame) }

	h.RequestKeyframe() // the viewer joined
	if !h.keys.take(at(0)) {
		t.Fatal("the join's keyframe was not forced")
	}
	forced := 0
	const seconds = 10
	for n := 1; n <= 60*seconds; n++ {
		h.pictureLost()
		if h.keys.take(at(n)) {
			forced++
		}
	}
	if max := seconds*int(time.Second/pliInterval) + 1; forced > max {
		t.Fatalf("%d keyframes forced by PLI in %d s, want at most %d (one per %v)", forced, seconds, max, pliInterval)
	}
	if min := seconds*int(time.Second/pliInterval) - 1; forced < min {
		t.Fatalf("%d keyframes forced by PLI in %d s, want about one per %v", forced, seconds, pliInterval)
	}

	// A join right after a forced keyframe still gets its own.
	n := 60*seconds + 1
	h.pictureLost()
	for !h.keys.take(at(n)) {
		n++
	}
	h.RequestKeyframe()
	if !h.keys.take(at(n + 1)) {
		t.Fatal("a join inside the PLI window was held back")
	}

	// A loss inside the window is served at its end.
	h.pictureLost()
	m := n + 2
	for ; !h.keys.take(at(m)); m++ {
		if at(m).Sub(at(n+1)) > pliInterval+frame {
			t.Fatal("a loss inside the window was dropped")
		}
	}
	if at(m).Sub(at(n+1)) < pliInterval {
		t.Fatalf("a loss was served %v after the last keyframe, inside the %v window", at(m).Sub(at(n+1)), pliInterval)
	}
	// Nothing pending: no keyframe.
	for k := m + 1; k < m+120; k++ {
		if h.keys.take(at(k)) {
			t.Fatal("a keyframe nobody asked for")
		}
	}
}
