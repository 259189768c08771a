package netem

import (
	"encoding/binary"
	"math"
	"net"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recorder keeps what a link delivered, with the (fake) time it came.
type recorder struct {
	mu   sync.Mutex
	seqs []int
	at   []time.Duration
	t0   time.Time
}

func (r *recorder) deliver(data []byte, _ net.Addr) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seqs = append(r.seqs, int(binary.BigEndian.Uint32(data)))
	r.at = append(r.at, time.Since(r.t0))
}

// run sends n packets of size bytes every gap through a link with c and
// returns what arrived (all inside a synctest bubble: time is fake).
func run(t *testing.T, c Conditions, n, size int, gap time.Duration) (*recorder, Stats) {
	t.Helper()
	var rec *recorder
	var st Stats
	synctest.Test(t, func(t *testing.T) {
		rec = &recorder{t0: time.Now()}
		l := NewLink(c, 1, rec.deliver)
		defer l.Close()
		buf := make([]byte, size)
		for i := range n {
			binary.BigEndian.PutUint32(buf, uint32(i))
			l.Send(buf, nil)
			time.Sleep(gap)
		}
		time.Sleep(time.Second) // everything in flight lands
		synctest.Wait()
		st = l.Stats()
	})
	return rec, st
}

func TestPerfectLinkDeliversEverythingAtOnceInOrder(t *testing.T) {
	rec, st := run(t, Conditions{}, 100, 100, time.Millisecond)
	if st.Sent != 100 || st.Delivered != 100 || st.Lost != 0 {
		t.Fatalf("stats %+v", st)
	}
	for i, s := range rec.seqs {
		if s != i || rec.at[i] != time.Duration(i)*time.Millisecond {
			t.Fatalf("packet %d: seq %d at %v", i, s, rec.at[i])
		}
	}
}

func TestRandomLossIsNearTheRate(t *testing.T) {
	_, st := run(t, Conditions{Loss: 0.05}, 10000, 50, 100*time.Microsecond)
	if got := float64(st.Lost) / float64(st.Sent); math.Abs(got-0.05) > 0.01 {
		t.Fatalf("lost %.3f of packets, want ~0.05 (%+v)", got, st)
	}
	if st.Delivered+st.Lost != st.Sent {
		t.Fatalf("stats do not add up: %+v", st)
	}
}

func TestBurstyLossHasTheMeanBurstLength(t *testing.T) {
	rec, st := run(t, Conditions{Loss: 0.1, Burst: 5}, 20000, 50, 100*time.Microsecond)
	if got := float64(st.Lost) / float64(st.Sent); math.Abs(got-0.1) > 0.03 {
		t.Fatalf("lost %.3f, want ~0.1", got)
	}
	// Count runs of missing sequence numbers.
	bursts, lost, next := 0, 0, 0
	for _, s := range rec.seqs {
		if s > next {
			bursts++
			lost += s - next
		}
		next = s + 1
	}
	if mean := float64(lost) / float64(bursts); mean < 3.5 || mean > 6.5 {
		t.Fatalf("mean burst %.2f packets over %d bursts, want ~5", mean, bursts)
	}
}

func TestJitterKeepsTheOrderAndTheDelayBounds(t *testing.T) {
	c := Conditions{DelayMs: 10, JitterMs: 10}
	rec, st := run(t, c, 2000, 100, time.Millisecond)
	if st.Delivered != 2000 {
		t.Fatalf("stats %+v", st)
	}
	spread := map[time.Duration]bool{}
	for i, s := range rec.seqs {
		if s != i {
			t.Fatalf("packet %d arrived as the %dth: the order was not kept", s, i)
		}
		d := rec.at[i] - time.Duration(s)*time.Millisecond
		if d < 0 || d > 20*time.Millisecond+time.Millisecond {
			t.Fatalf("packet %d delayed %v, want 0..20 ms", s, d)
		}
		spread[d/time.Millisecond] = true
	}
	if len(spread) < 10 {
		t.Fatalf("delays took only %d distinct ms values: no jitter", len(spread))
	}
}

func TestReorderLetsSomePacketsOvertake(t *testing.T) {
	rec, _ := run(t, Conditions{DelayMs: 10, JitterMs: 10, Reorder: 0.2}, 2000, 100, time.Millisecond)
	overtaken := 0
	for i := 1; i < len(rec.seqs); i++ {
		if rec.seqs[i] < rec.seqs[i-1] {
			overtaken++
		}
	}
	if overtaken == 0 {
		t.Fatal("no packet arrived out of order")
	}
}

func TestRateCapPacesAndDropsWhatTheQueueCannotHold(t *testing.T) {
	// 2 Mbit/s offered (250 B/ms) into a 1 Mbit/s cap with a 100 ms queue.
	rec, st := run(t, Conditions{RateKbps: 1000}, 4000, 250, time.Millisecond)
	if st.Overflow == 0 {
		t.Fatalf("nothing dropped at twice the cap: %+v", st)
	}
	last := rec.at[len(rec.at)-1]
	kbps := float64(st.Bytes*8) / float64(last.Milliseconds())
	if kbps > 1010 || kbps < 900 {
		t.Fatalf("delivered %.0f kbit/s through a 1000 kbit/s cap", kbps)
	}
	// The queue delay is bounded by QueueMs (+ one packet).
	for i, s := range rec.seqs {
		if d := rec.at[i] - time.Duration(s)*time.Millisecond; d > 103*time.Millisecond {
			t.Fatalf("packet %d waited %v behind the cap, want ≤ 100 ms queue", s, d)
		}
	}
}

func TestSetChangesConditionsOnTheFly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{t0: time.Now()}
		l := NewLink(Conditions{Loss: 1}, 1, rec.deliver)
		defer l.Close()
		l.Send(make([]byte, 4), nil)
		l.Set(Conditions{})
		l.Send(make([]byte, 4), nil)
		synctest.Wait()
		if st := l.Stats(); st.Lost != 1 || st.Delivered != 1 {
			t.Fatalf("stats %+v", st)
		}
	})
}
