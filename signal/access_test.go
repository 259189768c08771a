package signal

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"couchplay/room"
)

const (
	testCode = "4821"
	testKey  = "TESTJOINKEY0123456789ABCDEF"
)

// startCodeHost is a real host in code mode with a known code and key.
func startCodeHost(t *testing.T) *testHost {
	t.Helper()
	return startHostAccess(t, 4, nil, nil, room.NewAccessWith(testCode, testKey))
}

// In code mode the URLs to share carry the key, and the room code is there
// for the host to show (host.TestStartupLines prints them).
func TestCodeModeJoinURLsAndCode(t *testing.T) {
	h := startCodeHost(t)
	if got := h.srv.JoinURLs(); len(got) != 1 || got[0] != h.base+"#key="+testKey {
		t.Fatalf("JoinURLs %v", got)
	}
	if h.srv.RoomCode() != testCode {
		t.Fatalf("RoomCode %q", h.srv.RoomCode())
	}
}

func TestOpenModeHasNoCodeNorKey(t *testing.T) {
	h := startHostConfig(t, 4, nil, nil)
	if h.srv.RoomCode() != "" || h.srv.JoinURLs()[0] != h.base {
		t.Fatalf("open mode: code %q, join URLs %v", h.srv.RoomCode(), h.srv.JoinURLs())
	}
}

// A join without code or key is told a code is needed, a wrong code is
// refused, and the same connection then joins with the right code; the
// session token it got rejoins its slot without the code after a drop.
func TestJoinNeedsTheCodeOrTheKey(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	conn := h.dial(t, ctx)
	send(t, ctx, conn, `{"type":"join"}`)
	if m := next(t, ctx, conn, TypeError); m.Code != CodeCodeRequired {
		t.Fatalf("join without code: %+v", m)
	}
	send(t, ctx, conn, `{"type":"join","code":"1234"}`)
	if m := next(t, ctx, conn, TypeError); m.Code != CodeBadCode || m.Text == "" {
		t.Fatalf("wrong code: %+v", m)
	}
	send(t, ctx, conn, `{"type":"join","key":"not-the-key"}`)
	if m := next(t, ctx, conn, TypeError); m.Code != CodeBadCode {
		t.Fatalf("wrong key: %+v", m)
	}
	if health := h.health(t); health.Players != 0 {
		t.Fatalf("players %d after refused joins", health.Players)
	}
	send(t, ctx, conn, `{"type":"join","code":"4821"}`)
	w := next(t, ctx, conn, TypeWelcome)
	if w.Slot != 1 || w.Token == "" {
		t.Fatalf("welcome %+v", w)
	}
	conn.CloseNow() // a drop: the slot waits for the token (seen or not yet, the token gets it back)
	again := h.dial(t, ctx)
	defer again.CloseNow()
	send(t, ctx, again, `{"type":"join","token":"`+w.Token+`"}`)
	if w2 := next(t, ctx, again, TypeWelcome); w2.Slot != 1 {
		t.Fatalf("rejoin with the token: %+v", w2)
	}

	// A token the host never admitted does not let anyone in.
	other := h.dial(t, ctx)
	defer other.CloseNow()
	send(t, ctx, other, `{"type":"join","token":"0123456789abcdef0123456789abcdef"}`)
	if m := next(t, ctx, other, TypeError); m.Code != CodeCodeRequired {
		t.Fatalf("join with an unknown token: %+v", m)
	}
}

// The QR code's key joins a real WebRTC client as a player.
func TestKeyJoinsAsAPlayer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	c := join(t, ctx, h, `{"type":"join","key":"`+testKey+`"}`)
	defer c.leave(ctx)
	if c.slot != 1 {
		t.Fatalf("slot %d", c.slot)
	}
}

// After 5 wrong codes from one address every try, even the right code, gets
// rate_limited with the seconds to wait.
func TestWrongCodesAreRateLimited(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	conn := h.dial(t, ctx)
	defer conn.CloseNow()
	for i := range room.MaxWrongCodes {
		send(t, ctx, conn, `{"type":"join","code":"000`+string(rune('0'+i))+`"}`)
		if m := next(t, ctx, conn, TypeError); m.Code != CodeBadCode {
			t.Fatalf("wrong try %d: %+v", i+1, m)
		}
	}
	for _, code := range []string{"0009", testCode} {
		send(t, ctx, conn, `{"type":"join","code":"`+code+`"}`)
		m := next(t, ctx, conn, TypeError)
		if m.Code != CodeRateLimited || m.RetryAfter < 1 || m.RetryAfter > 60 {
			t.Fatalf("try with %s after 5 wrong: %+v, want rate_limited with retryAfter 1..60", code, m)
		}
	}
	// WHEP shares the limit: the same address is refused there too.
	resp, _ := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", "v=0",
		http.Header{"Authorization": {"Bearer " + testCode}})
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("WHEP while limited: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The QR code's key is never refused by the limit: on /ws…
	send(t, ctx, conn, `{"type":"join","key":"`+testKey+`"}`)
	if m := next(t, ctx, conn, TypeWelcome); m.Slot != 1 {
		t.Fatalf("the key from a limited address: %+v", m)
	}
	// …nor on WHEP (this offer is no SDP, so it is judged and refused: 400).
	resp, _ = whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", "v=0",
		http.Header{"Authorization": {"Bearer " + testKey}})
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("WHEP with the key from a limited address: %d, want the offer judged (400)", resp.StatusCode)
	}
}

func TestWHEPNeedsABearer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	v := newWHEPViewer(t)
	offer := v.offer(t, ctx)
	resp, body := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", offer, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Fatalf("no bearer: %d WWW-Authenticate %q %s", resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body)
	}
	resp, body = whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", offer,
		http.Header{"Authorization": {"Bearer 9999"}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("wrong bearer: %d %s", resp.StatusCode, body)
	}
	for _, secret := range []string{testKey, testCode} {
		v := newWHEPViewer(t)
		resp, answer := whepRequest(t, ctx, http.MethodPost, h.base+"whep", "application/sdp", v.offer(t, ctx),
			http.Header{"Authorization": {"Bearer " + secret}})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("bearer %q: %d %s", secret, resp.StatusCode, answer)
		}
	}
	// /healthz stays open and shows neither the code nor the key.
	hr, err := http.Get(h.base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(hr.Body)
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || strings.Contains(string(data), testCode) || strings.Contains(string(data), testKey) {
		t.Fatalf("/healthz %d %s", hr.StatusCode, data)
	}
}

// Kick frees the slot, tells the page, and its token no longer lets it in.
func TestKick(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	c := join(t, ctx, h, `{"type":"join","code":"`+testCode+`"}`)
	defer c.leave(ctx)
	p2 := join(t, ctx, h, `{"type":"join","key":"`+testKey+`"}`)
	defer p2.leave(ctx)
	if err := h.kick(1); err != nil {
		t.Fatal(err)
	}
	if m := awaitMsg(t, ctx, c.msgs, TypeError); m.Code != CodeKicked || m.Text != KickedText {
		t.Fatalf("kicked page got %+v", m)
	}
	if !eventually(ctx, func() bool { return h.health(t).Players == 1 }) {
		t.Fatalf("players %d after the kick, want 1", h.health(t).Players)
	}
	if err := h.kick(1); !errors.Is(err, room.ErrNoPlayer) {
		t.Fatalf("kick a free slot: %v", err)
	}
	// The page moved to the spectators gets a spectator welcome.
	if err := h.moveToSpectator(2); err != nil {
		t.Fatal(err)
	}
	if m := awaitMsg(t, ctx, p2.msgs, TypeWelcome); m.Slot != 0 || m.Role != RoleSpectator {
		t.Fatalf("moved page got %+v", m)
	}
	if health := h.health(t); health.Players != 0 || health.Spectators != 1 {
		t.Fatalf("after the move: %+v", health)
	}
}

// The kicked page's connection is closed by the host.
func TestKickClosesTheConnection(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := startCodeHost(t)
	conn := h.dial(t, ctx)
	defer conn.CloseNow()
	send(t, ctx, conn, `{"type":"join","key":"`+testKey+`"}`)
	next(t, ctx, conn, TypeWelcome)
	if err := h.kick(1); err != nil {
		t.Fatal(err)
	}
	if m := next(t, ctx, conn, TypeError); m.Code != CodeKicked {
		t.Fatalf("%+v", m)
	}
	for {
		if _, _, err := conn.Read(ctx); err != nil {
			if websocket.CloseStatus(err) != websocket.StatusPolicyViolation {
				t.Fatalf("close: %v, want 1008", err)
			}
			return
		}
	}
}

// awaitMsg reads a client's messages until one of type typ.
func awaitMsg(t *testing.T, ctx context.Context, msgs <-chan Message, typ string) Message {
	t.Helper()
	for {
		select {
		case m := <-msgs:
			if m.Type == typ {
				return m
			}
		case <-ctx.Done():
			t.Fatalf("no %s message", typ)
		}
	}
}
