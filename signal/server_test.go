package signal

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"couchplay/emu"
	"couchplay/emu/lightcycles"
	"couchplay/internal/testutil"
	"couchplay/room"
	"couchplay/stream"
)

// testHost is a real host (hub, room, server, test card frame loop) on 127.0.0.1.
type testHost struct {
	srv     *Server
	hub     *stream.Hub
	loop    *emu.Loop
	console *emu.Console // nil unless started with a console config
	base    string       // http://127.0.0.1:port/
	log     *lockedBuffer
}

// kick is the window's Kick as the host does it (host.Kick): the room
// decides, the server tells the page.
func (h *testHost) kick(slot int) error {
	m, err := h.srv.Room().Kick(slot)
	if err == nil {
		h.srv.Removed(m)
	}
	return err
}

// moveToSpectator is the window's Watch as the host does it.
func (h *testHost) moveToSpectator(slot int) error {
	m, err := h.srv.Room().MoveToSpectator(slot)
	if err == nil {
		h.srv.Moved(m)
	}
	return err
}

func startHost(t *testing.T, maxSpectators int) *testHost {
	t.Helper()
	return startHostWith(t, maxSpectators, nil)
}

// startHostWith starts a test host; with cc it has a game console (cc's Loop
// and Logger are filled in) that starts on Light Cycles, otherwise no console
// and the test card runs.
func startHostWith(t *testing.T, maxSpectators int, cc *emu.ConsoleConfig) *testHost {
	t.Helper()
	return startHostConfig(t, maxSpectators, cc, nil)
}

// startHostConfig is startHostWith whose Config opt may change first (limits).
func startHostConfig(t *testing.T, maxSpectators int, cc *emu.ConsoleConfig, opt func(*Config)) *testHost {
	t.Helper()
	return startHostAccess(t, maxSpectators, cc, opt, nil)
}

// startHostAccess is startHostConfig with the room in code mode when access is set.
func startHostAccess(t *testing.T, maxSpectators int, cc *emu.ConsoleConfig, opt func(*Config), access *room.Access) *testHost {
	t.Helper()
	logBuf := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logBuf, nil))
	hub, err := stream.NewHub(stream.Settings{ListenIP: net.IPv4(127, 0, 0, 1), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	var core emu.Core = emu.NewTestCard()
	if cc != nil {
		core = lightcycles.New()
	}
	rm := room.New(maxSpectators)
	rm.SetAccess(access)
	loop := emu.NewLoop(core, rm, hub.WriteFrame, emu.RealClock{})
	var console *emu.Console
	if cc != nil {
		cc.Loop, cc.Logger = loop, log
		console = emu.NewConsole(*cc, emu.LightCyclesGame)
	}
	cfg := Config{
		Listen: "127.0.0.1:0", Version: "test",
		Client:  fstest.MapFS{"index.html": {Data: []byte("<title>couchplay</title>")}},
		Console: console, Logger: log,
	}
	if opt != nil {
		opt(&cfg)
	}
	srv := New(cfg, hub, rm)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	if urls := srv.URLs(); len(urls) == 0 || !strings.HasPrefix(urls[0], "http://127.0.0.1:") {
		t.Fatalf("serving URLs %v", urls)
	}
	loop.Start()
	h := &testHost{srv: srv, hub: hub, loop: loop, console: console, base: srv.URLs()[0], log: logBuf}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		loop.Shutdown()
		hub.Shutdown()
	})
	return h
}

func (h *testHost) wsURL() string { return "ws" + strings.TrimPrefix(h.base, "http") + "ws" }

func (h *testHost) dial(t *testing.T, ctx context.Context) *websocket.Conn {
	t.Helper()
	conn, _, err := websocket.Dial(ctx, h.wsURL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func (h *testHost) health(t *testing.T) Health {
	t.Helper()
	resp, err := http.Get(h.base + "healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health Health
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	return health
}

func send(t *testing.T, ctx context.Context, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// next reads messages until one of type typ arrives; binary ones (WebSocket
// media) are skipped.
func next(t *testing.T, ctx context.Context, c *websocket.Conn, typ string) Message {
	t.Helper()
	for {
		mt, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("waiting for %s: %v", typ, err)
		}
		if mt != websocket.MessageText {
			continue
		}
		var m Message
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("host sent invalid JSON %q", data)
		}
		if m.Type == typ {
			return m
		}
	}
}

func TestBadMessagesGetErrorsAndTheSocketStaysOpen(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := h.dial(t, ctx)
	defer c.CloseNow()

	send(t, ctx, c, `{"type":"join"`)
	if m := next(t, ctx, c, TypeError); m.Code != CodeBadJSON || m.Text == "" {
		t.Fatalf("malformed JSON: %+v", m)
	}
	send(t, ctx, c, `{"type":"warp"}`)
	if m := next(t, ctx, c, TypeError); m.Code != CodeUnknownType || !strings.Contains(m.Text, "warp") {
		t.Fatalf("unknown type: %+v", m)
	}
	send(t, ctx, c, `{"type":"answer","sdp":"v=0"}`)
	if m := next(t, ctx, c, TypeError); m.Code != CodeNotJoined {
		t.Fatalf("answer before join: %+v", m)
	}
	// Still open: a join works.
	send(t, ctx, c, `{"type":"join"}`)
	if m := next(t, ctx, c, TypeWelcome); m.Slot != 1 || m.Role != RolePlayer || m.Token == "" || m.Game == nil {
		t.Fatalf("welcome: %+v", m)
	}
	if m := next(t, ctx, c, TypeOffer); !strings.Contains(m.SDP, "VP8") || !strings.Contains(m.SDP, "opus") || !strings.Contains(m.SDP, playoutDelayURIForTest) {
		t.Fatalf("offer lacks VP8/Opus/playout-delay:\n%s", m.SDP)
	}
}

const playoutDelayURIForTest = "playout-delay"

func TestOversizedMessageClosesWith1009(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := h.dial(t, ctx)
	defer c.CloseNow()
	big := `{"type":"answer","sdp":"` + strings.Repeat("a", ReadLimit) + `"}`
	c.Write(ctx, websocket.MessageText, []byte(big))
	_, _, err := c.Read(ctx)
	if status := websocket.CloseStatus(err); status != websocket.StatusMessageTooBig {
		t.Fatalf("close status %v (err %v), want 1009", status, err)
	}
	// The host keeps serving.
	if got := h.health(t).Status; got != "ok" {
		t.Fatalf("healthz after oversize: %q", got)
	}
}

func TestCrossOriginHandshakeIs403(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-origin dial: err %v resp %v, want 403", err, resp)
	}
	// Same origin is fine.
	c, _, err := websocket.Dial(ctx, h.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {strings.TrimSuffix(h.base, "/")}}})
	if err != nil {
		t.Fatalf("same-origin dial: %v", err)
	}
	c.CloseNow()
}

func TestPlainGetOnWSExplainsTheProxy(t *testing.T) {
	h := startHost(t, 4)
	resp, err := http.Get(h.base + "ws")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
	for _, want := range []string{"proxy", "Upgrade", "Connection", "proxy_set_header Upgrade $http_upgrade", "RewriteCond %{HTTP:Upgrade}"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("426 body lacks %q:\n%s", want, body)
		}
	}
	if !strings.Contains(h.log.String(), "proxy probably dropped Upgrade/Connection") {
		t.Errorf("no server log line about the proxy:\n%s", h.log.String())
	}
}

// client is a real pion browser stand-in: it answers the host's offer and
// sends input on the data channel.
type client struct {
	conn  *websocket.Conn
	pc    *webrtc.PeerConnection
	input chan *webrtc.DataChannel
	slot  int
	msgs  chan Message // what the host sent after the offer, except candidates
}

func join(t *testing.T, ctx context.Context, h *testHost, joinMsg string) *client {
	t.Helper()
	c := &client{conn: h.dial(t, ctx), input: make(chan *webrtc.DataChannel, 1), msgs: make(chan Message, 64)}
	send(t, ctx, c.conn, joinMsg)
	c.slot = next(t, ctx, c.conn, TypeWelcome).Slot
	offer := next(t, ctx, c.conn, TypeOffer)

	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	pc, err := webrtc.NewAPI(webrtc.WithSettingEngine(se)).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	c.pc = pc
	connected := make(chan struct{})
	var once bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected && !once {
			once = true
			close(connected)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		dc.OnOpen(func() { c.input <- dc })
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer.SDP}); err != nil {
		t.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		t.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		t.Fatal(err)
	}
	<-gathered
	data, _ := json.Marshal(Message{Type: TypeAnswer, SDP: pc.LocalDescription().SDP})
	send(t, ctx, c.conn, string(data))
	// The host's candidates arrive trickled.
	go func() {
		for {
			_, data, err := c.conn.Read(ctx)
			if err != nil {
				return
			}
			var m Message
			if json.Unmarshal(data, &m) != nil {
				continue
			}
			if m.Type == TypeCandidate {
				if m.Candidate != nil {
					pc.AddICECandidate(*m.Candidate)
				}
				continue
			}
			select {
			case c.msgs <- m:
			default: // a test that does not read them
			}
		}
	}()
	select {
	case <-connected:
	case <-ctx.Done():
		t.Fatal("peer never connected")
	}
	return c
}

func (c *client) leave(ctx context.Context) {
	c.conn.Write(ctx, websocket.MessageText, []byte(`{"type":"leave"}`))
	c.conn.Close(websocket.StatusNormalClosure, "")
	c.pc.Close()
}

func TestInputReachesTheRightPortAndBadPacketsAreAnswered(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p1 := join(t, ctx, h, `{"type":"join"}`)
	defer p1.leave(ctx)
	p2 := join(t, ctx, h, `{"type":"join"}`)
	defer p2.leave(ctx)
	if p1.slot != 1 || p2.slot != 2 {
		t.Fatalf("slots %d %d, want 1 2", p1.slot, p2.slot)
	}
	dc := <-p2.input
	dc.Send(emu.EncodeInput(emu.Input{Seq: 1, Buttons: emu.ButtonA}))
	rm := h.srv.Room()
	if !eventually(ctx, func() bool { return rm.Buttons(1) == emu.ButtonA }) {
		t.Fatal("player 2's A never reached port 1")
	}
	if rm.Buttons(0) != 0 {
		t.Fatal("player 2's input reached port 0")
	}
	if health := h.health(t); health.Players != 2 || health.Peers != 2 {
		t.Fatalf("healthz %+v, want 2 players, 2 peers", health)
	}
}

func TestWrongSizeInputPacket(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A raw socket so this test reads the error itself.
	p := join(t, ctx, h, `{"type":"join"}`)
	defer p.leave(ctx)
	dc := <-p.input
	dc.Send([]byte{0x01, 0x02, 0x03})
	if !eventually(ctx, func() bool { return strings.Contains(h.log.String(), "bad input packet") }) {
		t.Fatal("host did not report the bad input packet")
	}
	// The peer keeps working: a good packet still lands.
	dc.Send(emu.EncodeInput(emu.Input{Seq: 1, Buttons: emu.ButtonStart}))
	if !eventually(ctx, func() bool { return h.srv.Room().Buttons(0) == emu.ButtonStart }) {
		t.Fatal("input after a bad packet was lost")
	}
}

func TestJoinLeaveCyclesLeakNoGoroutines(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cycle := func() {
		c := join(t, ctx, h, `{"type":"join"}`)
		c.leave(ctx)
		var last Health
		if !eventually(ctx, func() bool { last = h.health(t); return last.Players == 0 && last.Peers == 0 }) {
			t.Fatalf("slot and peer not freed after leave; last /healthz: %+v", last)
		}
	}
	cycle() // warm up pools and lazily started encoders
	http.DefaultClient.CloseIdleConnections()
	baseline := settledGoroutines(ctx)
	for i := 0; i < 20; i++ {
		cycle()
	}
	http.DefaultClient.CloseIdleConnections()
	if !eventually(ctx, func() bool { return runtime.NumGoroutine() <= baseline }) {
		buf := make([]byte, 1<<20)
		t.Fatalf("goroutines now %d, baseline %d:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
	}
}

func settledGoroutines(ctx context.Context) int {
	n := runtime.NumGoroutine()
	for i := 0; i < 50 && ctx.Err() == nil; i++ {
		time.Sleep(100 * time.Millisecond)
		m := runtime.NumGoroutine()
		if m == n {
			return n
		}
		n = m
	}
	return n
}

// eventually polls ok until it holds (true) or ctx ends (false).
func eventually(ctx context.Context, ok func() bool) bool {
	for !ok() {
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return true
}

// lockedBuffer lets the host's goroutines log while the test reads the log.
type lockedBuffer = testutil.Buffer
