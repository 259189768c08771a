package signal

import (
	"context"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

// What the server scheduled (a peer's grace, a library reply's period) never
// runs after Shutdown: a timer not fired yet is stopped, one that fired is
// waited for, and nothing is scheduled once it is closing.
func TestShutdownStopsAndWaitsForTimers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := fuzzServer()
		var ran, late atomic.Int32
		s.after(time.Second, func() { ran.Add(1) })
		s.after(10*time.Second, func() { late.Add(1) })
		s.after(2*time.Second, func() { // fires, and is still running when Shutdown begins
			time.Sleep(time.Second)
			ran.Add(1)
		})
		time.Sleep(2500 * time.Millisecond)
		if err := s.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ran.Load() != 2 {
			t.Fatalf("%d of the 2 fired timers had run when Shutdown returned", ran.Load())
		}
		s.after(time.Millisecond, func() { late.Add(1) })
		time.Sleep(time.Minute)
		synctest.Wait()
		if late.Load() != 0 {
			t.Fatalf("%d timers ran after Shutdown", late.Load())
		}
	})
}
