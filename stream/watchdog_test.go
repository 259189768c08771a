package stream

import (
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/webrtc/v4"
)

// endLog records what a watchdog ended with.
type endLog struct {
	mu      sync.Mutex
	reasons []string
}

func (l *endLog) end(reason string) {
	l.mu.Lock()
	l.reasons = append(l.reasons, reason)
	l.mu.Unlock()
}

func (l *endLog) got() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.reasons...)
}

func TestWatchdogTimers(t *testing.T) {
	const connect, disc = 15 * time.Second, 5 * time.Second
	for _, tc := range []struct {
		name  string
		steps func(w *watchdog) // run in the bubble, with time.Sleep as the clock
		want  string            // "" = never ends
	}{
		{"never connects", func(w *watchdog) { w.arm(); w.observe(webrtc.PeerConnectionStateConnecting) }, reasonNeverUp},
		{"never armed, never ends", func(w *watchdog) { w.observe(webrtc.PeerConnectionStateNew) }, ""},
		{"connects in time", func(w *watchdog) {
			w.arm()
			time.Sleep(connect - time.Second)
			w.observe(webrtc.PeerConnectionStateConnected)
		}, ""},
		{"failed ends at once", func(w *watchdog) {
			w.arm()
			w.observe(webrtc.PeerConnectionStateConnected)
			w.observe(webrtc.PeerConnectionStateFailed)
		}, reasonFailed},
		{"disconnected too long", func(w *watchdog) {
			w.arm()
			w.observe(webrtc.PeerConnectionStateConnected)
			time.Sleep(time.Minute)
			w.observe(webrtc.PeerConnectionStateDisconnected)
		}, reasonDisconnected},
		{"a blip shorter than the timeout heals", func(w *watchdog) {
			w.arm()
			w.observe(webrtc.PeerConnectionStateConnected)
			for i := 0; i < 10; i++ {
				w.observe(webrtc.PeerConnectionStateDisconnected)
				time.Sleep(disc - time.Second)
				w.observe(webrtc.PeerConnectionStateConnected)
				time.Sleep(time.Minute)
			}
		}, ""},
		{"repeated Disconnected does not restart the timeout", func(w *watchdog) {
			w.arm()
			w.observe(webrtc.PeerConnectionStateConnected)
			for i := 0; i < 10; i++ {
				w.observe(webrtc.PeerConnectionStateDisconnected)
				time.Sleep(time.Second)
			}
		}, reasonDisconnected},
		{"closed disarms", func(w *watchdog) {
			w.arm()
			w.observe(webrtc.PeerConnectionStateClosed)
		}, ""},
		{"stopped disarms", func(w *watchdog) { w.arm(); w.stop() }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var log endLog
				w := newWatchdog(connect, disc, log.end)
				start := time.Now()
				tc.steps(w)
				stepsDone := time.Since(start)
				time.Sleep(time.Hour)
				// A late Failed after the end is not a second end.
				w.observe(webrtc.PeerConnectionStateFailed)
				got := log.got()
				switch {
				case tc.want == "" && len(got) > 1:
					t.Fatalf("ended %q, want never (one Failed-after-the-fact at most)", got)
				case tc.want == "" && len(got) == 1 && got[0] != reasonFailed:
					t.Fatalf("ended %q after %v of steps, want it to stay up", got, stepsDone)
				case tc.want != "" && (len(got) != 1 || got[0] != tc.want):
					t.Fatalf("ended %q, want exactly [%q]", got, tc.want)
				}
			})
		})
	}
}

// The ends come at the timeouts, not before: checked on synctest's fake clock.
func TestWatchdogDeadlines(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var log endLog
		w := newWatchdog(15*time.Second, 5*time.Second, log.end)
		w.arm()
		time.Sleep(15*time.Second - time.Nanosecond)
		synctest.Wait()
		if got := log.got(); len(got) != 0 {
			t.Fatalf("ended %q before the connect timeout", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := log.got(); len(got) != 1 || got[0] != reasonNeverUp {
			t.Fatalf("ended %q at the connect timeout, want [%q]", got, reasonNeverUp)
		}

		log = endLog{}
		w = newWatchdog(15*time.Second, 5*time.Second, log.end)
		w.arm()
		w.observe(webrtc.PeerConnectionStateConnected)
		w.observe(webrtc.PeerConnectionStateDisconnected)
		time.Sleep(5*time.Second - time.Nanosecond)
		synctest.Wait()
		if got := log.got(); len(got) != 0 {
			t.Fatalf("ended %q before the disconnected timeout", got)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		if got := log.got(); len(got) != 1 || got[0] != reasonDisconnected {
			t.Fatalf("ended %q at the disconnected timeout, want [%q]", got, reasonDisconnected)
		}
	})
}

// shortTimeouts keep the real-pion tests quick; the tests assert only that the
// peer ends, never how fast.
var shortTimeouts = Settings{ConnectTimeout: 300 * time.Millisecond, DisconnectedTimeout: 300 * time.Millisecond, ICESilenceTimeout: 300 * time.Millisecond}

// generous bounds "eventually" in the real-pion tests: the timeouts above
// are well under a second, pion's own Failed/Closed would come after 25 s or never.
const generous = 20 * time.Second

// waitEnded waits for Closed, and checks Failed came first, exactly once, and
// that the hub let go of the peer.
func waitEnded(t *testing.T, h *Hub, failed chan string, closed chan struct{}) {
	t.Helper()
	select {
	case <-closed:
	case <-time.After(generous):
		t.Fatalf("the peer never ended (hub: %d peers, %d connected)", peerCount(h), h.Connected())
	}
	select {
	case reason := <-failed:
		t.Logf("Failed(%q), then Closed", reason)
	default:
		t.Fatal("Closed without Failed first: the page is not told why")
	}
	select {
	case reason := <-failed:
		t.Fatalf("Failed a second time: %q", reason)
	default:
	}
	if n := peerCount(h); n != 0 {
		t.Fatalf("the hub still holds %d peers", n)
	}
	if n := h.Connected(); n != 0 {
		t.Fatalf("the hub still counts %d connected", n)
	}
}

func peerCount(h *Hub) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.peers)
}

// A page that never answers the offer (it crashed, the socket dropped right
// after) ends after ConnectTimeout.
func TestPeerNeverAnsweredEnds(t *testing.T) {
	h := newTestHub(t, shortTimeouts)
	failed, closed := make(chan string, 4), make(chan struct{})
	_, _, err := h.NewPeer(PeerEvents{Failed: func(r string) { failed <- r }, Closed: func() { close(closed) }})
	if err != nil {
		t.Fatal(err)
	}
	waitEnded(t, h, failed, closed)
}

// A WHEP player that posts an offer and never does ICE (the 16 ghost offers
// of issue 12) ends after ConnectTimeout, so its seat is freed.
func TestWHEPGhostEnds(t *testing.T) {
	h := newTestHub(t, shortTimeouts)
	const ghosts = 4
	type ghost struct {
		failed chan string
		closed chan struct{}
	}
	gs := make([]ghost, ghosts)
	for i := range gs {
		pc, err := clientAPI(t).NewPeerConnection(webrtc.Configuration{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { pc.Close() })
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
		offer, err := pc.CreateOffer(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := pc.SetLocalDescription(offer); err != nil {
			t.Fatal(err)
		}
		g := ghost{make(chan string, 4), make(chan struct{})}
		gs[i] = g
		// The ghost never applies the answer: no ICE ever reaches the host.
		if _, _, err := h.AnswerPeer(offer.SDP, PeerEvents{Failed: func(r string) { g.failed <- r }, Closed: func() { close(g.closed) }}); err != nil {
			t.Fatal(err)
		}
	}
	for _, g := range gs {
		select {
		case <-g.closed:
		case <-time.After(generous):
			t.Fatalf("a ghost WHEP peer never ended (hub holds %d)", peerCount(h))
		}
		if len(g.failed) != 1 {
			t.Fatalf("%d Failed calls before Closed, want 1", len(g.failed))
		}
	}
	if n := peerCount(h); n != 0 {
		t.Fatalf("the hub still holds %d peers", n)
	}
}

// A viewer that was playing and vanishes without a goodbye (no DTLS
// close_notify: the phone left the Wi-Fi) ends: Disconnected, then the
// DisconnectedTimeout.
func TestPeerVanishedEnds(t *testing.T) {
	// What is timed here is the disconnect; a connect timeout of 300 ms could
	// end the viewer before a loaded machine (go test -race ./... on 2 cores) connects it.
	h := newTestHub(t, Settings{ConnectTimeout: 10 * time.Second, DisconnectedTimeout: shortTimeouts.DisconnectedTimeout,
		ICESilenceTimeout: shortTimeouts.ICESilenceTimeout})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	// Stop the viewer's ICE agent: its sockets close, nothing more is sent,
	// and the host is not told.
	if err := v.pc.SCTP().Transport().ICETransport().Stop(); err != nil {
		t.Fatal(err)
	}
	waitEnded(t, h, v.failed, v.closed)
}

// A healthy viewer is not ended by the timeouts.
func TestPeerHealthyStays(t *testing.T) {
	h := newTestHub(t, Settings{ConnectTimeout: 300 * time.Millisecond, DisconnectedTimeout: 2 * time.Second, ICESilenceTimeout: 2 * time.Second})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	// Well past the connect timeout. Only a false pass can come from a slow
	// machine here, never a false failure.
	time.Sleep(time.Second)
	runtime.Gosched()
	select {
	case <-v.closed:
		t.Fatalf("a connected peer was ended: %q", <-v.failed)
	default:
	}
	if h.Connected() != 1 {
		t.Fatalf("hub counts %d connected, want 1", h.Connected())
	}
}
