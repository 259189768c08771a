package signal

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"couchplay/room"
)

// ---------- an in-memory host for testing/synctest ----------
//
// Timers (join timeout, poll idle, read and idle timeouts, rate refill) are
// tested inside a synctest bubble, where time is fake and advances only when
// every goroutine waits. Real sockets would not let it advance, so the host
// serves on net.Pipe connections; it has no media hub (nothing here joins).

type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l *pipeListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial hands the server one end of a new pipe and returns the other.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type bubbleHost struct {
	srv    *Server
	ln     *pipeListener
	client *http.Client
	log    *lockedBuffer
}

// startBubbleHost runs a host without media on an in-memory listener; call it
// inside synctest.Test. It is shut down when the test ends.
func startBubbleHost(t *testing.T, opt func(*Config)) *bubbleHost {
	t.Helper()
	return startBubbleHostAccess(t, opt, nil)
}

// startBubbleHostAccess is startBubbleHost with the room in code mode when access is set.
func startBubbleHostAccess(t *testing.T, opt func(*Config), access *room.Access) *bubbleHost {
	t.Helper()
	logBuf := &lockedBuffer{}
	cfg := Config{Version: "test", Client: fstest.MapFS{"index.html": {Data: []byte("x")}},
		Logger: slog.New(slog.NewTextHandler(logBuf, nil))}
	if opt != nil {
		opt(&cfg)
	}
	rm := room.New(4)
	rm.SetAccess(access)
	srv := New(cfg, nil, rm)
	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv.serve(ln)
	tr := &http.Transport{DialContext: ln.dial}
	h := &bubbleHost{srv: srv, ln: ln, client: &http.Client{Transport: tr}, log: logBuf}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	return h
}

const bubbleURL = "http://couchplay.test/"

func (h *bubbleHost) dialWS(t *testing.T, ctx context.Context) (*websocket.Conn, error) {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws://couchplay.test/ws", &websocket.DialOptions{HTTPClient: h.client})
	return c, err
}

func (h *bubbleHost) openPoll(t *testing.T) (int, string) {
	t.Helper()
	resp, err := h.client.Post(bubbleURL+"poll/open", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var opened struct{ Session string }
	json.Unmarshal(body, &opened)
	if resp.StatusCode == http.StatusCreated {
		return resp.StatusCode, opened.Session
	}
	return resp.StatusCode, string(body)
}

// ---------- the limiters themselves ----------

func TestCountLimiterPerAddressAndTotal(t *testing.T) {
	l := countLimiter{what: "connections", maxPerIP: 2, max: 3}
	r1, ref := l.acquire("a")
	if ref != nil {
		t.Fatal(ref.text)
	}
	r2, _ := l.acquire("a")
	if _, ref := l.acquire("a"); ref == nil || !ref.perIP || !strings.Contains(ref.text, "too many connections from your address") {
		t.Fatalf("third from one address: %+v", ref)
	}
	r3, _ := l.acquire("b")
	if _, ref := l.acquire("c"); ref == nil || ref.perIP || !strings.Contains(ref.text, "the host has too many connections") {
		t.Fatalf("fourth in all: %+v", ref)
	}
	r1()
	r1() // twice is once
	if perIP, total := l.held("a"); perIP != 1 || total != 2 {
		t.Fatalf("after one release: %d from a, %d in all", perIP, total)
	}
	r2()
	r3()
	if _, total := l.held("a"); total != 0 || len(l.perIP) != 0 {
		t.Fatalf("all released: total %d, %d addresses tracked", total, len(l.perIP))
	}
}

func TestJoinRateRefillsWithTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := rateLimiter{burstPerIP: 3, ratePerIP: 1, burst: 5, rate: 2}
		for i := 0; i < 3; i++ {
			if ref := l.allow("a"); ref != nil {
				t.Fatalf("attempt %d within the burst refused: %s", i+1, ref.text)
			}
		}
		if ref := l.allow("a"); ref == nil || !ref.perIP || !strings.Contains(ref.text, "too many join attempts from your address") {
			t.Fatalf("over the burst: %+v", ref)
		}
		// Another address has its own bucket, under the total.
		l.allow("b")
		l.allow("b")
		if ref := l.allow("c"); ref == nil || ref.perIP {
			t.Fatalf("over the total burst: %+v", ref)
		}
		time.Sleep(999 * time.Millisecond)
		if ref := l.allow("a"); ref == nil {
			t.Fatal("a token came back before a second had passed")
		}
		time.Sleep(time.Millisecond)
		if ref := l.allow("a"); ref != nil {
			t.Fatalf("after a second: %s", ref.text)
		}
		// Buckets that are full again are forgotten once many addresses were seen.
		time.Sleep(time.Minute)
		for i := 0; i < maxTrackedIPs+1; i++ {
			l.allow(strings.Repeat("x", i+1))
			time.Sleep(time.Second)
		}
		if len(l.perIP) > maxTrackedIPs {
			t.Fatalf("%d addresses tracked, want at most %d", len(l.perIP), maxTrackedIPs)
		}
	})
}

// ---------- caps on a real host ----------

// dialFrom dials the host's /ws from a given loopback address (Linux routes
// all of 127/8 to lo), so one test has several "client addresses".
func dialFrom(t *testing.T, ctx context.Context, h *testHost, ip string) (*websocket.Conn, error) {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	client := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
	c, _, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{HTTPClient: client})
	return c, err
}

// expectRefused reads what a refused socket gets: an error it can show, then
// the close code and reason.
func expectRefused(t *testing.T, ctx context.Context, c *websocket.Conn, status websocket.StatusCode, say string) {
	t.Helper()
	defer c.CloseNow()
	var sawError bool
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != status || !strings.Contains(ce.Reason, "too many") {
				t.Fatalf("closed with %v, want %d and a reason", err, status)
			}
			if !sawError {
				t.Fatal("closed without an error message first")
			}
			return
		}
		var m Message
		json.Unmarshal(data, &m)
		if m.Type == TypeError {
			if m.Code != CodeTooMany || !strings.Contains(m.Text, say) {
				t.Fatalf("error %+v, want %s saying %q", m, CodeTooMany, say)
			}
			sawError = true
		}
	}
}

func TestWebSocketsCappedPerAddressAndInTotal(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) { c.MaxConnsPerIP, c.MaxConns = 2, 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a1 := h.dial(t, ctx) // never joins
	defer a1.CloseNow()
	a2 := join(t, ctx, h, `{"type":"join"}`) // joined
	defer a2.leave(ctx)
	// A dial returns once the handshake is answered; the host counts the
	// socket just after. Wait for the count, or a later dial could take the
	// place first (as it did once under load: c1 got in, b1 was refused).
	counted := func(ip string, perIP, total int) {
		t.Helper()
		if !eventually(ctx, func() bool { n, all := h.srv.conns.held(ip); return n == perIP && all == total }) {
			n, all := h.srv.conns.held(ip)
			t.Fatalf("the host counts %d sockets from %s and %d in all, want %d and %d", n, ip, all, perIP, total)
		}
	}
	counted("127.0.0.1", 2, 2)
	a3, err := dialFrom(t, ctx, h, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, ctx, a3, websocket.StatusPolicyViolation, "too many connections from your address")

	b1, err := dialFrom(t, ctx, h, "127.0.0.2")
	if err != nil {
		t.Fatal(err)
	}
	defer b1.CloseNow()
	counted("127.0.0.2", 1, 3)
	c1, err := dialFrom(t, ctx, h, "127.0.0.3")
	if err != nil {
		t.Fatal(err)
	}
	expectRefused(t, ctx, c1, websocket.StatusTryAgainLater, "the host has too many connections")

	// The host keeps serving, and a closed socket gives its place back.
	if hl := h.health(t); hl.Status != "ok" || hl.Players != 1 {
		t.Fatalf("/healthz after refusals: %+v", hl)
	}
	a1.Close(websocket.StatusNormalClosure, "")
	if !eventually(ctx, func() bool { n, _ := h.srv.conns.held("127.0.0.1"); return n == 1 }) {
		t.Fatal("the closed socket's place never came back")
	}
	again := h.dial(t, ctx)
	defer again.CloseNow()
	send(t, ctx, again, `{"type":"join","watch":true}`)
	if m := next(t, ctx, again, TypeWelcome); m.Role != RoleSpectator {
		t.Fatalf("after a place came back: %+v", m)
	}
}

func TestPollSessionsCappedWith429(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) { c.MaxConnsPerIP = 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var sessions []*pollClient
	for i := 0; i < 3; i++ {
		sessions = append(sessions, openPoll(t, h))
	}
	resp, err := http.Post(h.base+"poll/open", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") ||
		!strings.Contains(string(body), "too many connections from your address") {
		t.Fatalf("fourth poll/open: %d %q %q, want 429 with the reason as text", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	// WebSockets share the cap: a socket is refused too.
	c := h.dial(t, ctx)
	expectRefused(t, ctx, c, websocket.StatusPolicyViolation, "too many connections from your address")
	if hl := h.health(t); hl.Status != "ok" {
		t.Fatalf("/healthz: %+v", hl)
	}
	// Leaving gives the place back at once.
	sessions[0].send(`{"type":"leave"}`)
	if status, _ := sessions[0].recv(ctx); status != http.StatusGone {
		t.Fatalf("recv after leave: %d", status)
	}
	openPoll(t, h)
}

func TestWHEPCappedPerAddress(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) { c.MaxWHEPPerIP = 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	session, _ := newWHEPViewer(t).post(t, ctx, h)
	resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", newWHEPViewer(t).offer(t, ctx), nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too many WHEP sessions from your address") {
		t.Fatalf("second WHEP viewer from one address: %d %q, want 429", resp.StatusCode, body)
	}
	if resp, _ := whepRequest(t, ctx, http.MethodDelete, session, "", "", nil); resp.StatusCode != http.StatusOK {
		t.Fatalf("DELETE: %d", resp.StatusCode)
	}
	newWHEPViewer(t).post(t, ctx, h) // the place came back
}

func TestJoinAttemptsRateLimited(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) { c.JoinBurstPerIP, c.JoinRatePerIP = 3, 1e-9 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := 0; i < 2; i++ {
		c := h.dial(t, ctx)
		send(t, ctx, c, `{"type":"join"}`)
		next(t, ctx, c, TypeWelcome)
		send(t, ctx, c, `{"type":"leave"}`)
		c.CloseNow()
	}
	// A WHEP offer is a join attempt too: the third.
	newWHEPViewer(t).post(t, ctx, h)
	c := h.dial(t, ctx)
	send(t, ctx, c, `{"type":"join"}`)
	expectRefused(t, ctx, c, websocket.StatusPolicyViolation, "too many join attempts from your address")
	resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", newWHEPViewer(t).offer(t, ctx), nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "too many join attempts") {
		t.Fatalf("WHEP over the join rate: %d %q", resp.StatusCode, body)
	}
	var last Health
	if !eventually(ctx, func() bool { last = h.health(t); return last.Status == "ok" && last.Players == 0 }) {
		t.Fatalf("/healthz: %+v", last)
	}
}

// ---------- timers, under synctest ----------

func TestSocketThatNeverJoinsIsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, func(c *Config) { c.MaxConnsPerIP = 1 })
		ctx := context.Background()
		c, err := h.dialWS(t, ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		start := time.Now()
		var got Message
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
					t.Fatalf("closed with %v, want 1008", err)
				}
				break
			}
			json.Unmarshal(data, &got)
		}
		if got.Code != CodeJoinTimeout {
			t.Fatalf("last message %+v, want a %s error", got, CodeJoinTimeout)
		}
		if d := time.Since(start); d != DefaultJoinTimeout {
			t.Fatalf("closed after %v, want %v", d, DefaultJoinTimeout)
		}
		synctest.Wait()
		if n, _ := h.srv.conns.held("pipe"); n != 0 {
			t.Fatalf("%d connections still held", n)
		}
	})
}

func TestIdlePollSessionGivesItsPlaceBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, func(c *Config) { c.MaxConnsPerIP = 1 })
		if status, _ := h.openPoll(t); status != http.StatusCreated {
			t.Fatalf("poll/open: %d", status)
		}
		if status, body := h.openPoll(t); status != http.StatusTooManyRequests {
			t.Fatalf("second poll/open: %d %s, want 429", status, body)
		}
		time.Sleep(pollIdle + time.Second)
		synctest.Wait()
		if status, body := h.openPoll(t); status != http.StatusCreated {
			t.Fatalf("poll/open after the first session idled out: %d %s", status, body)
		}
	})
}

// rawRequest writes a request on a fresh connection and returns it with a reader.
func (h *bubbleHost) rawConn(t *testing.T) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := h.ln.dial(context.Background(), "", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestSlowRequestBodyTimesOut(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, nil)
		c, br := h.rawConn(t)
		// Headers in time, then a body that never finishes (slowloris).
		io.WriteString(c, "POST /whep HTTP/1.1\r\nHost: couchplay.test\r\nContent-Type: application/sdp\r\nContent-Length: 1000\r\n\r\nv=0\r\n")
		start := time.Now()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
		if d := time.Since(start); d != DefaultReadTimeout {
			t.Fatalf("answered after %v, want the read timeout %v", d, DefaultReadTimeout)
		}
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("the connection stayed open")
		}
	})
}

func TestIdleKeepAliveConnectionIsClosed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, nil)
		c, br := h.rawConn(t)
		io.WriteString(c, "GET /index.html HTTP/1.1\r\nHost: couchplay.test\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		start := time.Now()
		if _, err := br.ReadByte(); err == nil {
			t.Fatal("the server sent something on an idle connection")
		}
		if d := time.Since(start); d != DefaultIdleTimeout {
			t.Fatalf("closed after %v, want the idle timeout %v", d, DefaultIdleTimeout)
		}
	})
}

func TestLongPollOutlastsTheReadTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, func(c *Config) { c.ReadTimeout = time.Second })
		status, id := h.openPoll(t)
		if status != http.StatusCreated {
			t.Fatalf("poll/open: %d", status)
		}
		got := make(chan []Message, 1)
		go func() {
			resp, err := h.client.Get(bubbleURL + "poll/recv?session=" + id + "&ack=0")
			if err != nil {
				t.Error(err)
				got <- nil
				return
			}
			defer resp.Body.Close()
			var batch []Message
			if err := json.NewDecoder(resp.Body).Decode(&batch); err != nil {
				t.Errorf("recv answered %d with no batch: %v", resp.StatusCode, err)
			}
			got <- batch
		}()
		time.Sleep(DefaultJoinTimeout / 2) // the recv waits, well past the read timeout (and not yet the join timeout)
		resp, err := h.client.Post(bubbleURL+"poll/send?session="+id, "text/plain", strings.NewReader(`{"type":"warp"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if batch := <-got; len(batch) != 1 || batch[0].Code != CodeUnknownType {
			t.Fatalf("the long-poll got %+v, want the unknown_type error", batch)
		}
	})
}

// held is how many ip holds, and how many all do (tests only).
func (l *countLimiter) held(ip string) (perIP, total int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.perIP[ip], l.total
}
