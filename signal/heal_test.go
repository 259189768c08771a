package signal

import (
	"context"
	"encoding/json"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ---------- session.join against session.finish ----------

// emptyRoom waits until nobody holds a slot, seat, connected peer or session.
func emptyRoom(t *testing.T, ctx context.Context, h *testHost) {
	t.Helper()
	var last Health
	var sessions int
	if !eventually(ctx, func() bool {
		last = h.health(t)
		h.srv.mu.Lock()
		sessions = len(h.srv.sessions)
		h.srv.mu.Unlock()
		return last.Players == 0 && last.Spectators == 0 && last.Peers == 0 && sessions == 0
	}) {
		t.Fatalf("room not empty: %+v, %d sessions", last, sessions)
	}
}

func TestJoinAfterFinishSeatsNothing(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	warm := join(t, ctx, h, `{"type":"join"}`) // warm up pools and encoders
	warm.leave(ctx)
	emptyRoom(t, ctx, h)
	http.DefaultClient.CloseIdleConnections()
	baseline := settledGoroutines(ctx)

	// Finish first (queue overflow, poll idle, shutdown), then the join the
	// transport had already read arrives.
	for _, msg := range []string{`{"type":"join"}`, `{"type":"join","watch":true}`} {
		ss, err := h.srv.newSession(h.srv.log, "127.0.0.1", false)
		if err != nil {
			t.Fatal(err)
		}
		ss.finish()
		ss.receive([]byte(msg))
		emptyRoom(t, ctx, h)
	}
	// And finish while the join runs, in every interleaving the scheduler finds.
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		ss, err := h.srv.newSession(h.srv.log, "127.0.0.1", false)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(2)
		go func() { defer wg.Done(); ss.receive([]byte(`{"type":"join"}`)) }()
		go func() {
			defer wg.Done()
			for j := 0; j < i%5; j++ {
				runtime.Gosched()
			}
			ss.finish()
		}()
	}
	wg.Wait()
	emptyRoom(t, ctx, h)
	// No peer is left open either: its goroutines would stay.
	if !eventually(ctx, func() bool { http.DefaultClient.CloseIdleConnections(); return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines now %d, baseline %d (a peer left open?):\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
	}
}

// ---------- long-poll delivery ----------

// recvAck is one recv with ack.
func (c *pollClient) recvAck(ctx context.Context, ack uint64) (int, []Message) {
	c.t.Helper()
	return c.recvQuery(ctx, "&ack="+itoa(ack))
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// sendSeq posts one numbered message.
func (c *pollClient) sendSeq(seq uint64, body string) {
	c.t.Helper()
	resp, err := http.Post(c.base+"poll/send?session="+c.session+"&seq="+itoa(seq), "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("poll/send seq %d: %d", seq, resp.StatusCode)
	}
}

// collect recvs with ack until a message of type typ has come.
func (c *pollClient) collect(ctx context.Context, ack uint64, typ string) []Message {
	c.t.Helper()
	var all []Message
	for {
		status, batch := c.recvAck(ctx, ack)
		if status != http.StatusOK {
			c.t.Fatalf("waiting for %s: recv %d", typ, status)
		}
		for _, m := range batch {
			if m.Seq <= ack {
				continue
			}
			ack = m.Seq
			all = append(all, m)
			if m.Type == typ {
				return all
			}
		}
	}
}

func TestPollMessagesSurviveADroppedRecv(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openPoll(t, h)
	c.sendSeq(1, `{"type":"join"}`)
	first := c.collect(ctx, 0, TypeOffer)
	// That answer never reached the page (a proxy dropped it): the same recv
	// again gets the same messages, offer included.
	again := c.collect(ctx, 0, TypeOffer)
	if len(again) != len(first) {
		t.Fatalf("after a dropped recv got %d messages, want the %d sent before", len(again), len(first))
	}
	for i := range first {
		if again[i].Seq != first[i].Seq || again[i].Type != first[i].Type || again[i].SDP != first[i].SDP {
			t.Fatalf("message %d: %+v, then %+v", i, first[i], again[i])
		}
	}
	if first[0].Type != TypeWelcome || first[0].Seq != 1 {
		t.Fatalf("first message %+v, want the welcome with seq 1", first[0])
	}
	// Acknowledged, they are gone: only what is new comes.
	last := first[len(first)-1].Seq
	c.sendSeq(2, `{"type":"warp"}`)
	status, batch := c.recvAck(ctx, last)
	for status == http.StatusOK && len(batch) > 0 && batch[0].Type == TypeCandidate {
		last = batch[len(batch)-1].Seq
		status, batch = c.recvAck(ctx, last)
	}
	if status != http.StatusOK || len(batch) == 0 || batch[0].Seq <= last || batch[0].Code != CodeUnknownType {
		t.Fatalf("after ack %d: %d %+v, want only the new unknown_type error", last, status, batch)
	}
	// The session's last words survive a dropped recv as well.
	last = batch[len(batch)-1].Seq
	c.sendSeq(3, `{"type":"leave"}`)
	status, batch = c.recvAck(ctx, last)
	if hl := h.health(t); hl.Players != 0 {
		t.Fatalf("leave did not free the slot: %+v", hl)
	}
	if status == http.StatusOK && len(batch) > 0 {
		again, againBatch := c.recvAck(ctx, last) // dropped: asked again
		if again != http.StatusOK || len(againBatch) != len(batch) {
			t.Fatalf("the last messages after a dropped recv: %d %+v, want %+v", again, againBatch, batch)
		}
		last = batch[len(batch)-1].Seq
		status, _ = c.recvAck(ctx, last)
	}
	if status != http.StatusGone {
		t.Fatalf("recv after everything was acknowledged: %d, want 410", status)
	}
}

func TestPollRetriedSendIsAppliedOnce(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openPoll(t, h)
	c.sendSeq(1, `{"type":"join"}`)
	c.sendSeq(1, `{"type":"join"}`) // the retry of a POST whose answer was lost
	c.sendSeq(2, `{"type":"warp"}`)
	msgs := c.collect(ctx, 0, TypeError)
	if m := msgs[len(msgs)-1]; m.Code != CodeUnknownType {
		t.Fatalf("the repeated join was applied: %+v", m)
	}
}

func TestRepeatedAnswerIsHarmless(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p := join(t, ctx, h, `{"type":"join"}`)
	defer p.leave(ctx)
	// The browser side is connected; wait until the host counts it too (its
	// state change comes on its own goroutine), so the check below means
	// "still connected after the repeat".
	if !eventually(ctx, func() bool { return h.health(t).Peers == 1 }) {
		t.Fatalf("the host never counted the peer: %+v", h.health(t))
	}
	data, _ := json.Marshal(Message{Type: TypeAnswer, SDP: p.pc.LocalDescription().SDP})
	send(t, ctx, p.conn, string(data)) // the same answer again (an old client's retried send)
	send(t, ctx, p.conn, `{"type":"warp"}`)
	for {
		select {
		case m := <-p.msgs:
			if m.Type != TypeError {
				continue
			}
			if m.Code != CodeUnknownType {
				t.Fatalf("a repeated answer got %+v", m)
			}
			if hl := h.health(t); hl.Peers != 1 {
				t.Fatalf("/healthz %+v, want the peer still connected", hl)
			}
			return
		case <-ctx.Done():
			t.Fatal("no answer to warp")
		}
	}
}

// ---------- peers that fail give their seat back ----------

func TestWHEPSeatsOfViewersThatNeverConnectComeBack(t *testing.T) {
	const seats = 16
	h := startHostConfig(t, seats, nil, func(c *Config) { c.MaxWHEPPerIP = 2 * seats })
	// pion gives up on ICE after 30 s (5 s disconnected + 25 s failed timeouts).
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for i := 0; i < seats; i++ {
		v := newWHEPViewer(t)
		offer := v.offer(t, ctx)
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", offer, nil)
			if resp.StatusCode != http.StatusCreated {
				t.Errorf("viewer: %d %s", resp.StatusCode, body)
			}
			v.pc.Close() // gone without using the answer or sending DELETE
		}()
	}
	wg.Wait()
	if hl := h.health(t); hl.Spectators != seats {
		t.Fatalf("/healthz %+v, want %d seats taken", hl, seats)
	}
	resp, _ := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", newWHEPViewer(t).offer(t, ctx), nil)
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a viewer while every seat is held: %d, want 503", resp.StatusCode)
	}
	var last Health
	if !eventually(ctx, func() bool { last = h.health(t); return last.Spectators == 0 }) {
		t.Fatalf("the seats of viewers that never connected were never freed: %+v", last)
	}
	h.srv.wheps.mu.Lock()
	left := len(h.srv.wheps.byID)
	h.srv.wheps.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d WHEP sessions left", left)
	}
	v := newWHEPViewer(t)
	_, answer := v.post(t, ctx, h) // 201
	v.apply(t, answer)
	v.awaitVideo(t, ctx)
}

func TestPeerThatEndsEndsItsSession(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, tc := range []struct{ join, slotsKept string }{
		{`{"type":"join","watch":true}`, "a spectator's seat is freed"},
		{`{"type":"join"}`, "a player's slot is reserved for the page's token"},
	} {
		p := join(t, ctx, h, tc.join)
		// The page's PeerConnection goes away (DTLS close) but its socket
		// stays: the host's peer closes, and the session ends with it.
		p.pc.Close()
		var last Health
		var n int
		if !eventually(ctx, func() bool {
			last = h.health(t)
			h.srv.mu.Lock()
			n = len(h.srv.sessions)
			h.srv.mu.Unlock()
			return last.Spectators == 0 && last.Peers == 0 && n == 0
		}) {
			t.Fatalf("%s: after the peer ended: %+v, %d sessions", tc.join, last, n)
		}
		if p.slot != 0 {
			if last.Players != 1 {
				t.Fatalf("%s: %+v", tc.slotsKept, last)
			}
			p.conn.CloseNow()
		}
	}
}
