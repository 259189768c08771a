package signal

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"

	"couchplay/room"
)

// Guessing the room code (issue 17, item 1) and keeping a kicked or benched
// page where the host put it (item 4). Many client addresses come from
// 127.x.y.z: Linux routes all of 127/8 to lo.

// httpFrom is an HTTP client whose connections come from ip.
func httpFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

// whepFrom posts a WHEP request from ip and returns its status.
func whepFrom(t *testing.T, ctx context.Context, h *testHost, ip, auth, contentType, body string) int {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.base+"whep", strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := httpFrom(ip).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// wsTry opens /ws from ip ("" for the default), sends msg and returns the
// host's answer (the first welcome or error) with the socket.
func wsTry(t *testing.T, ctx context.Context, h *testHost, ip, msg string) (Message, *websocket.Conn) {
	t.Helper()
	var c *websocket.Conn
	var err error
	if ip == "" {
		c = h.dial(t, ctx)
	} else if c, err = dialFrom(t, ctx, h, ip); err != nil {
		t.Fatal(err)
	}
	send(t, ctx, c, msg)
	for {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("%s from %s: no answer: %v", msg, ip, err)
		}
		var m Message
		json.Unmarshal(data, &m)
		if m.Type == TypeWelcome || m.Type == TypeError {
			return m, c
		}
	}
}

// leaveWS says leave and waits for the host to close the socket (the leave
// was handled: the seat is free, no reservation is kept).
func leaveWS(t *testing.T, ctx context.Context, c *websocket.Conn) {
	t.Helper()
	send(t, ctx, c, `{"type":"leave"}`)
	for {
		if _, _, err := c.Read(ctx); err != nil {
			break
		}
	}
	c.CloseNow()
}

// addr is the i-th of many client addresses in 127.n.0.0/16.
func addr(n, i int) string { return fmt.Sprintf("127.%d.%d.%d", n, i/250, i%250+1) }

// An attacker with many addresses and garbage offers: once MaxWrongCodesTotal
// wrong codes were judged (403) every try waits (429), the right code too, so
// no status tells it apart; before, every address had its own 5 tries and the
// right code answered 415 (checked before the Content-Type).
func TestGuessingTheCodeFromManyAddressesOverWHEP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startCodeHost(t)
	judged := 0
	for i := range 200 {
		switch status := whepFrom(t, ctx, h, addr(1, i), fmt.Sprintf("Bearer %04d", i), "text/plain", "not an offer"); status {
		case http.StatusForbidden:
			judged++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("try %d: status %d, want 403 or 429", i+1, status)
		}
	}
	if judged > room.MaxWrongCodesTotal {
		t.Fatalf("%d wrong codes from 200 addresses were judged, want at most %d", judged, room.MaxWrongCodesTotal)
	}
	for i, c := range []struct{ contentType, body string }{{"text/plain", "x"}, {"application/sdp", "v=0"}, {"", ""}} {
		if status := whepFrom(t, ctx, h, addr(1, 300+i), "Bearer "+testCode, c.contentType, c.body); status != http.StatusTooManyRequests {
			t.Fatalf("the right code with %q during the pause: %d, want 429 like a wrong one", c.contentType, status)
		}
	}
}

// The same over /ws; a page that got in earlier comes back with its token,
// and the QR code's key joins, during the pause.
func TestGuessingTheCodeFromManyAddressesOverWebSockets(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startCodeHost(t)
	in, c := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`"}`)
	if in.Type != TypeWelcome {
		t.Fatalf("join with the key: %+v", in)
	}
	c.CloseNow() // dropped: its slot waits for its token
	judged := 0
	for i := range 120 {
		m, c := wsTry(t, ctx, h, addr(2, i), fmt.Sprintf(`{"type":"join","code":"%04d"}`, i))
		c.CloseNow()
		switch m.Code {
		case CodeBadCode:
			judged++
		case CodeRateLimited:
			if m.RetryAfter < 1 || !strings.Contains(m.Text, "everyone") {
				t.Fatalf("try %d: %+v, want a pause for everyone with retryAfter", i+1, m)
			}
		default:
			t.Fatalf("try %d: %+v, want bad_code or rate_limited", i+1, m)
		}
	}
	if judged > room.MaxWrongCodesTotal {
		t.Fatalf("%d wrong codes from 120 addresses were judged, want at most %d", judged, room.MaxWrongCodesTotal)
	}
	m, c := wsTry(t, ctx, h, addr(2, 200), `{"type":"join","code":"`+testCode+`"}`)
	c.CloseNow()
	if m.Code != CodeRateLimited {
		t.Fatalf("the right code during the pause: %+v, want rate_limited like a wrong one", m)
	}
	back, c := wsTry(t, ctx, h, addr(2, 201), `{"type":"join","token":"`+in.Token+`"}`)
	defer c.CloseNow()
	if back.Type != TypeWelcome || back.Slot != in.Slot {
		t.Fatalf("an admitted token during the pause: %+v", back)
	}
	key, c2 := wsTry(t, ctx, h, addr(2, 0), `{"type":"join","key":"`+testKey+`"}`)
	defer c2.CloseNow()
	if key.Type != TypeWelcome {
		t.Fatalf("the key during the pause, from an address that guessed: %+v", key)
	}
	if !strings.Contains(h.srv.AccessNotice(), "waits for everyone") {
		t.Fatalf("window notice during the pause: %q", h.srv.AccessNotice())
	}
}

// NewCodeAfter wrong codes in all, at the fastest pace the limits allow,
// make a new room code: the host is told (it prints it like the serving
// line), and so does the window's notice.
func TestGuessingMakesANewCodeAndSaysSo(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		told := &lockedBuffer{}
		a := room.NewAccessWith(testCode, testKey)
		h := startBubbleHostAccess(t, func(c *Config) {
			c.OnNewRoomCode = func(code string, wrong int) { fmt.Fprintf(told, "%s after %d\n", code, wrong) }
		}, a)
		h.srv.urls = []string{bubbleURL}
		for i := range room.NewCodeAfter {
			req, _ := http.NewRequest(http.MethodPost, bubbleURL+"whep", strings.NewReader("v=0"))
			req.Header.Set("Authorization", fmt.Sprintf("Bearer %04d", i)) // never 4821
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusForbidden {
				t.Fatalf("wrong try %d: %d, want 403", i+1, resp.StatusCode)
			}
			time.Sleep(room.TotalWindow / room.MaxWrongCodesTotal)
		}
		code := h.srv.RoomCode()
		if want := code + " after 300\n"; code == testCode || told.String() != want {
			t.Fatalf("the host was told %q, want %q", told.String(), want)
		}
		if n := h.srv.AccessNotice(); !strings.Contains(n, "Someone was guessing the room code") || !strings.Contains(n, code) {
			t.Fatalf("window notice %q", n)
		}
	})
}

// A join with no code builds nothing, so it takes nothing from the
// join-attempt buckets that joins with the key need.
func TestCodelessJoinsDoNotDrainTheJoinBucket(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHostAccess(t, 4, nil, func(c *Config) { c.JoinBurst, c.JoinRate = 10, 1e-9 }, room.NewAccessWith(testCode, testKey))
	for a := range 4 {
		c, err := dialFrom(t, ctx, h, addr(3, a))
		if err != nil {
			t.Fatal(err)
		}
		for i := range 24 {
			send(t, ctx, c, `{"type":"join"}`)
			if m := next(t, ctx, c, TypeError); m.Code != CodeCodeRequired {
				t.Fatalf("code-less join %d from address %d: %+v, want code_required", i+1, a+1, m)
			}
		}
		c.CloseNow()
	}
	for i := range 3 {
		m, c := wsTry(t, ctx, h, addr(3, 10), `{"type":"join","key":"`+testKey+`"}`)
		if m.Type != TypeWelcome {
			t.Fatalf("join %d with the key after 96 code-less ones: %+v", i+1, m)
		}
		send(t, ctx, c, `{"type":"leave"}`)
		c.CloseNow()
	}
}

// Sockets that never join hold at most MaxUnjoinedPerIP places per address
// and MaxUnjoined in all (a newer one pushes the oldest out), so a page with
// the key still gets in: before, 2 addresses × 32 idle sockets filled the 64.
func TestIdleSocketsCannotFillTheConnectionCaps(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startCodeHost(t)
	var idle []*websocket.Conn
	defer func() {
		for _, c := range idle {
			c.CloseNow()
		}
	}()
	for _, ip := range []string{addr(4, 0), addr(4, 1)} {
		for range DefaultMaxConnsPerIP {
			c, err := dialFrom(t, ctx, h, ip)
			if err != nil {
				t.Fatal(err)
			}
			idle = append(idle, c)
		}
	}
	settle := func(most int) {
		t.Helper()
		wait, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if !eventually(wait, func() bool { _, total := h.srv.conns.held(""); return total <= most }) {
			_, total := h.srv.conns.held("")
			t.Fatalf("idle sockets hold %d connection places, want at most %d", total, most)
		}
	}
	settle(2 * MaxUnjoinedPerIP)
	m, c := wsTry(t, ctx, h, addr(4, 2), `{"type":"join","key":"`+testKey+`"}`)
	if m.Type != TypeWelcome {
		t.Fatalf("join with the key next to 64 idle sockets: %+v", m)
	}
	send(t, ctx, c, `{"type":"leave"}`)
	c.CloseNow()
	// From many addresses, one idle socket each: at most MaxUnjoined stay.
	for i := range MaxUnjoined + 8 {
		c, err := dialFrom(t, ctx, h, addr(4, 10+i))
		if err != nil {
			t.Fatal(err)
		}
		idle = append(idle, c)
	}
	settle(MaxUnjoined)
	m, c = wsTry(t, ctx, h, addr(4, 3), `{"type":"join","key":"`+testKey+`"}`)
	defer c.CloseNow()
	if m.Type != TypeWelcome {
		t.Fatalf("join with the key next to idle sockets from %d addresses: %+v", MaxUnjoined+8, m)
	}
}

// A long-poll session that never acknowledges its join_timeout message
// gives its place back at the join timeout and is forgotten pollLinger
// later: before, each recv re-armed the idle timer and it was held forever.
func TestPollSessionThatNeverAcksIsForgotten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHost(t, func(c *Config) { c.MaxConnsPerIP = 1 })
		status, id := h.openPoll(t)
		if status != http.StatusCreated {
			t.Fatalf("poll/open: %d", status)
		}
		start := time.Now()
		gone := make(chan time.Duration, 1)
		go func() {
			for {
				resp, err := h.client.Get(bubbleURL + "poll/recv?session=" + id + "&ack=0")
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusGone {
					gone <- time.Since(start)
					return
				}
				if time.Since(start) > time.Minute {
					gone <- time.Since(start)
					return
				}
				time.Sleep(time.Second)
			}
		}()
		time.Sleep(DefaultJoinTimeout + time.Millisecond)
		synctest.Wait()
		if status, body := h.openPoll(t); status != http.StatusCreated {
			t.Fatalf("poll/open just after the first session's join timeout: %d %s", status, body)
		}
		if d := <-gone; d > DefaultJoinTimeout+pollLinger+time.Second {
			t.Fatalf("the session that never acknowledged was forgotten after %v, want by %v", d, DefaultJoinTimeout+pollLinger)
		}
	})
}

// Refused codes from one address log one line per addrLogEvery, and the next
// line says how many it left out.
func TestWrongCodeLogLinesAreRateLimited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHostAccess(t, nil, room.NewAccessWith(testCode, testKey))
		try := func() {
			req, _ := http.NewRequest(http.MethodPost, bubbleURL+"whep", strings.NewReader("v=0"))
			req.Header.Set("Authorization", "Bearer 0000")
			resp, err := h.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
		for range 30 {
			try()
		}
		lines := regexp.MustCompile(`(?m)^.*room code.*$`)
		if got := lines.FindAllString(h.log.String(), -1); len(got) != 1 {
			t.Fatalf("%d log lines for 30 refused codes from one address, want 1:\n%s", len(got), strings.Join(got, "\n"))
		}
		time.Sleep(addrLogEvery)
		try()
		got := lines.FindAllString(h.log.String(), -1)
		if len(got) != 2 || !strings.Contains(got[1], "suppressed=29") {
			t.Fatalf("after %v: lines\n%s\nwant a second one saying suppressed=29", addrLogEvery, strings.Join(got, "\n"))
		}
	})
}

// WHEP answers a wrong or missing bearer before it looks at the body: the
// same status whatever the body (an offer over the size limit, never sent,
// too), and while codes wait 429 for the right code as for a wrong one.
func TestWHEPJudgesTheBearerBeforeTheBody(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := startBubbleHostAccess(t, nil, room.NewAccessWith(testCode, testKey))
		status := func(auth, contentType, body string, length int) int {
			t.Helper()
			c, br := h.rawConn(t)
			head := "POST /whep HTTP/1.1\r\nHost: couchplay.test\r\n"
			if auth != "" {
				head += "Authorization: " + auth + "\r\n"
			}
			if contentType != "" {
				head += "Content-Type: " + contentType + "\r\n"
			}
			io.WriteString(c, head+fmt.Sprintf("Content-Length: %d\r\n\r\n", length)+body)
			start := time.Now()
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if time.Since(start) != 0 {
				t.Fatalf("answered after %v: it waited for the body", time.Since(start))
			}
			return resp.StatusCode
		}
		bodies := []struct {
			contentType, body string
			length            int
		}{
			{"application/sdp", "v=0\r\n", 5},
			{"text/plain", "hello", 5},
			{"", "", 0},
			{"application/sdp", "", 10 << 20}, // declared over WHEPBodyLimit, never sent
		}
		for _, b := range bodies {
			if got := status("", b.contentType, b.body, b.length); got != http.StatusUnauthorized {
				t.Fatalf("no bearer, body %q %d: %d, want 401", b.contentType, b.length, got)
			}
			if got := status("Bearer 9999", b.contentType, b.body, b.length); got != http.StatusForbidden {
				t.Fatalf("wrong bearer, body %q %d: %d, want 403", b.contentType, b.length, got)
			}
		}
		status("Bearer 9998", "", "", 0) // the fifth wrong code from this address
		for _, b := range bodies {
			for _, auth := range []string{"Bearer " + testCode, "Bearer 9999"} {
				if got := status(auth, b.contentType, b.body, b.length); got != http.StatusTooManyRequests {
					t.Fatalf("%s while limited, body %q %d: %d, want 429", auth, b.contentType, b.length, got)
				}
			}
		}
	})
}

// A kicked page stays out until the host lets it in: every token it held
// (it went to watch and back) gets kicked, the QR code's key it used no
// longer works, the new key (in JoinURLs) does, and the other
// page keeps its token. Before, an older token or the key got a slot at once.
func TestKickedPageStaysOut(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHostAccess(t, 4, nil, nil, room.NewAccessWith(testCode, testKey))
	leave := func(c *websocket.Conn) { leaveWS(t, ctx, c) }

	first, c := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`"}`)
	leave(c)
	watching, c := wsTry(t, ctx, h, "", `{"type":"join","watch":true,"key":"`+testKey+`","token":"`+first.Token+`"}`)
	leave(c)
	playing, page := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`","token":"`+watching.Token+`"}`)
	defer page.CloseNow()
	other, c2 := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`"}`)
	defer c2.CloseNow()
	if playing.Type != TypeWelcome || playing.Slot != 1 || other.Slot != 2 {
		t.Fatalf("welcomes %+v %+v", playing, other)
	}
	if err := h.kick(1); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ctx, page, TypeError); m.Code != CodeKicked {
		t.Fatalf("the kicked page got %+v", m)
	}
	for _, tok := range []string{first.Token, watching.Token, playing.Token} {
		m, c := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`","token":"`+tok+`"}`)
		c.CloseNow()
		if m.Code != CodeKicked {
			t.Fatalf("a rejoin with a token the kicked page held: %+v, want kicked", m)
		}
	}
	m, c := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`"}`)
	c.CloseNow()
	if m.Code != CodeBadCode {
		t.Fatalf("a join with the QR code's old key: %+v, want bad_code", m)
	}
	// (The new join line on stderr is the host's: host.TestKickMakesANewJoinKey.)
	newKey := strings.TrimPrefix(h.srv.JoinURLs()[0], h.base+"#key=")
	if newKey == testKey {
		t.Fatalf("the join key %q did not change", newKey)
	}
	if !strings.Contains(h.srv.AccessNotice(), "QR code is new") {
		t.Fatalf("window notice %q", h.srv.AccessNotice())
	}
	// The host lets it in again: the new QR code (kicked token or not), or the code.
	for _, join := range []string{`{"type":"join","key":"` + newKey + `","token":"` + playing.Token + `"}`, `{"type":"join","code":"` + testCode + `"}`} {
		m, c := wsTry(t, ctx, h, "", join)
		if m.Type != TypeWelcome || m.Token == playing.Token {
			t.Fatalf("%s: %+v, want a welcome with a new token", join, m)
		}
		leave(c)
	}
	c2.CloseNow() // the other page drops and comes back with its token
	if m, c := wsTry(t, ctx, h, "", `{"type":"join","token":"`+other.Token+`"}`); m.Type != TypeWelcome || m.Slot != 2 {
		t.Fatalf("the other page's token after the kick: %+v", m)
	} else {
		leave(c)
	}
}

// In open mode too a kicked page's token lets it in no more.
func TestKickedTokenInOpenMode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startHost(t, 4)
	w, c := wsTry(t, ctx, h, "", `{"type":"join"}`)
	defer c.CloseNow()
	if err := h.kick(w.Slot); err != nil {
		t.Fatal(err)
	}
	m, c2 := wsTry(t, ctx, h, "", `{"type":"join","token":"`+w.Token+`"}`)
	defer c2.CloseNow()
	if m.Code != CodeKicked {
		t.Fatalf("rejoin with the kicked token: %+v, want kicked", m)
	}
}

// A page the host moved to the spectators rejoins as one after a reload
// (leave, then a join with its token and no ?watch); before, it got a slot.
func TestWatchSticksAcrossAReloadOnTheWire(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h := startCodeHost(t)
	w, c := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`"}`)
	if err := h.moveToSpectator(w.Slot); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ctx, c, TypeWelcome); m.Role != RoleSpectator || m.Token != w.Token {
		t.Fatalf("moved page got %+v", m)
	}
	leaveWS(t, ctx, c) // the reload
	m, c2 := wsTry(t, ctx, h, "", `{"type":"join","key":"`+testKey+`","token":"`+w.Token+`"}`)
	defer c2.CloseNow()
	if m.Type != TypeWelcome || m.Role != RoleSpectator || m.Token != w.Token {
		t.Fatalf("after a reload: %+v, want a spectator with its token", m)
	}
	if hl := h.health(t); hl.Players != 0 || hl.Spectators != 1 {
		t.Fatalf("/healthz %+v", hl)
	}
}
