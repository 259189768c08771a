package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pollClient speaks the long-poll fallback like the web client does.
type pollClient struct {
	t       *testing.T
	base    string
	session string
	queue   []Message
	acked   uint64 // the highest seq received, sent as ack
}

func openPoll(t *testing.T, h *testHost) *pollClient {
	t.Helper()
	resp, err := http.Post(h.base+"poll/open", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var opened struct{ Session string }
	if resp.StatusCode != http.StatusCreated || json.NewDecoder(resp.Body).Decode(&opened) != nil || opened.Session == "" {
		t.Fatalf("poll/open: %d %+v", resp.StatusCode, opened)
	}
	return &pollClient{t: t, base: h.base, session: opened.Session}
}

func (c *pollClient) post(body string) *http.Response {
	c.t.Helper()
	resp, err := http.Post(c.base+"poll/send?session="+c.session, "text/plain;charset=UTF-8", strings.NewReader(body))
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (c *pollClient) send(body string) {
	c.t.Helper()
	if resp := c.post(body); resp.StatusCode != http.StatusNoContent {
		c.t.Fatalf("poll/send %s: status %d", body, resp.StatusCode)
	}
}

// recv does one long-poll as the page does (ack: the highest seq handled so
// far) and returns its status and messages.
func (c *pollClient) recv(ctx context.Context) (int, []Message) {
	c.t.Helper()
	status, batch := c.recvQuery(ctx, "&ack="+strconv.FormatUint(c.acked, 10))
	for _, m := range batch {
		c.acked = max(c.acked, m.Seq)
	}
	return status, batch
}

// recvQuery is one long-poll with extra query parameters ("&ack=N").
func (c *pollClient) recvQuery(ctx context.Context, extra string) (int, []Message) {
	c.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"poll/recv?session="+c.session+extra, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var batch []Message
	if resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(&batch); err != nil {
			c.t.Fatal(err)
		}
	}
	return resp.StatusCode, batch
}

// next long-polls until a message of type typ arrives.
func (c *pollClient) next(ctx context.Context, typ string) Message {
	c.t.Helper()
	for {
		for len(c.queue) > 0 {
			m := c.queue[0]
			c.queue = c.queue[1:]
			if m.Type == typ {
				return m
			}
		}
		status, batch := c.recv(ctx)
		if status != http.StatusOK {
			c.t.Fatalf("waiting for %s: recv status %d", typ, status)
		}
		c.queue = append(c.queue, batch...)
	}
}

func TestPollSignalling(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := openPoll(t, h)

	c.send(`{"type":"join"`)
	if m := c.next(ctx, TypeError); m.Code != CodeBadJSON {
		t.Fatalf("malformed JSON: %+v", m)
	}
	c.send(`{"type":"teleport"}`)
	if m := c.next(ctx, TypeError); m.Code != CodeUnknownType {
		t.Fatalf("unknown type: %+v", m)
	}
	if resp := c.post(`{"type":"answer","sdp":"` + strings.Repeat("a", ReadLimit) + `"}`); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized message: status %d, want 413", resp.StatusCode)
	}
	c.send(`{"type":"join"}`)
	if m := c.next(ctx, TypeWelcome); m.Slot != 1 || m.Token == "" {
		t.Fatalf("welcome %+v", m)
	}
	if m := c.next(ctx, TypeOffer); !strings.Contains(m.SDP, "VP8") {
		t.Fatalf("offer %+v", m)
	}

	// Only one recv at a time per session: of two at once, one is refused.
	statuses := make(chan int, 2)
	for i := 0; i < 2; i++ {
		go func() {
			status, _ := c.recv(ctx)
			statuses <- status
		}()
	}
	if status := <-statuses; status != http.StatusConflict {
		t.Fatalf("of two concurrent recvs, the first to answer said %d, want 409", status)
	}

	// Leave frees the slot at once, answers the waiting recv, and ends the session.
	c.send(`{"type":"leave"}`)
	if hl := h.health(t); hl.Players != 0 {
		t.Fatalf("slot not freed by leave: %+v", hl)
	}
	if status := <-statuses; status != http.StatusOK && status != http.StatusGone {
		t.Fatalf("the waiting recv answered %d after leave", status)
	}
	if status, _ := c.recv(ctx); status != http.StatusGone {
		t.Fatalf("recv after leave: %d, want 410", status)
	}
	if resp := c.post(`{"type":"join"}`); resp.StatusCode != http.StatusGone {
		t.Fatalf("send after leave: %d, want 410", resp.StatusCode)
	}
}

func TestPollRefusesCrossOrigin(t *testing.T) {
	h := startHost(t, 4)
	req, _ := http.NewRequest(http.MethodPost, h.base+"poll/open", bytes.NewReader(nil))
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin poll/open: %d, want 403", resp.StatusCode)
	}
	if !strings.Contains(h.log.String(), "--trusted-origins") {
		t.Error("no log line pointing at --trusted-origins")
	}
}

func TestReconnectGetsTheSameSlot(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p1 := join(t, ctx, h, `{"type":"join"}`)
	defer p1.leave(ctx)
	first := h.dial(t, ctx)
	send(t, ctx, first, `{"type":"join"}`)
	welcome := next(t, ctx, first, TypeWelcome)
	if welcome.Slot != 2 {
		t.Fatalf("slot %d, want 2", welcome.Slot)
	}
	first.CloseNow() // the connection drops; no leave

	// Meanwhile a newcomer gets slot 3, not the reserved 2.
	newcomer := h.dial(t, ctx)
	defer newcomer.CloseNow()
	send(t, ctx, newcomer, `{"type":"join"}`)
	if m := next(t, ctx, newcomer, TypeWelcome); m.Slot != 3 {
		t.Fatalf("newcomer got slot %d, want 3", m.Slot)
	}
	back := h.dial(t, ctx)
	defer back.CloseNow()
	send(t, ctx, back, `{"type":"join","token":"`+welcome.Token+`"}`)
	if m := next(t, ctx, back, TypeWelcome); m.Slot != 2 || m.Token != welcome.Token {
		t.Fatalf("reconnect got %+v, want slot 2 with the same token", m)
	}

	// The same token again while that connection is open (a half-open socket
	// the host has not noticed yet): the new one wins, the old one is told.
	again := h.dial(t, ctx)
	defer again.CloseNow()
	send(t, ctx, again, `{"type":"join","token":"`+welcome.Token+`"}`)
	if m := next(t, ctx, again, TypeWelcome); m.Slot != 2 {
		t.Fatalf("takeover got slot %d, want 2", m.Slot)
	}
	if m := next(t, ctx, back, TypeError); m.Code != CodeReplaced {
		t.Fatalf("replaced connection got %+v", m)
	}
}

// A recv must say what it has handled (ack=N, 0 at first): without it the
// host could not tell what to send again, so it is refused.
func TestPollRecvNeedsAck(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := openPoll(t, h)
	if status, _ := c.recvQuery(ctx, ""); status != http.StatusBadRequest {
		t.Fatalf("recv without ack: status %d, want 400", status)
	}
	if status, _ := c.recvQuery(ctx, "&ack=x"); status != http.StatusBadRequest {
		t.Fatalf("recv with ack=x: status %d, want 400", status)
	}
	// The session is still there for a proper recv.
	c.send(`{"type":"teleport"}`)
	if m := c.next(ctx, TypeError); m.Code != CodeUnknownType {
		t.Fatalf("after the refused recvs: %+v", m)
	}
}
