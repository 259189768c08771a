package stream

import (
	"errors"
	"image"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"couchplay/emu"
)

func TestVideoTarget(t *testing.T) {
	const lo, hi = minVideoKbps, defaultVideoKbps
	player := func(kbps int) rateSample { return rateSample{kbps: kbps, player: true} }
	spectator := func(kbps int) rateSample { return rateSample{kbps: kbps} }
	for _, tc := range []struct {
		name    string
		samples []rateSample
		want    int
	}{
		{"nobody", nil, hi},
		{"one player", []rateSample{player(900)}, 900},
		{"the slowest player", []rateSample{player(900), player(400), player(1200)}, 400},
		{"a slow spectator does not count with a player watching", []rateSample{spectator(200), player(900)}, 900},
		{"spectators count when no player watches", []rateSample{spectator(700), spectator(500)}, 500},
		{"never under the floor", []rateSample{player(20)}, lo},
		{"never over the maximum", []rateSample{player(5000)}, hi},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := videoTarget(tc.samples, lo, hi); got != tc.want {
				t.Errorf("videoTarget(%v) = %d, want %d", tc.samples, got, tc.want)
			}
		})
	}
}

func TestRateChanged(t *testing.T) {
	const lo, hi = minVideoKbps, defaultVideoKbps
	for _, tc := range []struct {
		cur, target int
		want        bool
	}{
		{1000, 1000, false},
		{1000, 970, false}, // 3 %
		{1000, 1040, false},
		{1000, 950, true}, // 5 %
		{1000, 1200, true},
		{1480, hi, true}, // back to the maximum, however close
		{155, lo, true},  // down to the floor, however close
	} {
		if got := rateChanged(tc.cur, tc.target, lo, hi); got != tc.want {
			t.Errorf("rateChanged(%d -> %d) = %v, want %v", tc.cur, tc.target, got, tc.want)
		}
	}
}

func TestLossPercent(t *testing.T) {
	for frac, want := range map[uint8]int{0: 0, 1: 0, 26: 10, 128: 50, 255: 100} {
		if got := lossPercent(frac); got != want {
			t.Errorf("lossPercent(%d) = %d, want %d", frac, got, want)
		}
	}
}

// fixedEstimate is a bandwidth estimator whose estimate the test sets. It
// reports the link congested (GCC's delay detector: overuse) unless calm.
type fixedEstimate struct {
	bps  atomic.Int64
	calm atomic.Bool
}

func (f *fixedEstimate) AddStream(_ *interceptor.StreamInfo, w interceptor.RTPWriter) interceptor.RTPWriter {
	return w
}
func (f *fixedEstimate) WriteRTCP([]rtcp.Packet, interceptor.Attributes) error { return nil }
func (f *fixedEstimate) GetTargetBitrate() int                                 { return int(f.bps.Load()) }
func (f *fixedEstimate) OnTargetBitrateChange(func(int))                       {}
func (f *fixedEstimate) GetStats() map[string]any {
	if f.calm.Load() {
		return map[string]any{"usage": "normal", "state": "increase", "averageLoss": 0.0}
	}
	return map[string]any{"usage": "overuse", "state": "decrease", "averageLoss": 0.0}
}
func (f *fixedEstimate) Close() error     { return nil }
func (f *fixedEstimate) setKbps(kbps int) { f.bps.Store(int64(kbps) * bitsPerKbit) }

// fakePeer puts a peer with no PeerConnection in the hub: only its role and
// feedback, for the writer's sampling. It leaves the hub before Shutdown.
func fakePeer(t *testing.T, h *Hub, player, video bool, kbps int) (*Peer, *fixedEstimate) {
	t.Helper()
	est := &fixedEstimate{}
	est.setKbps(kbps)
	p := &Peer{hub: h, player: player, hasVideo: video, connected: true}
	p.rate.bwe = est
	h.mu.Lock()
	h.peers[p] = struct{}{}
	h.mu.Unlock()
	t.Cleanup(func() { removeFake(h, p) })
	return p, est
}

func removeFake(h *Hub, p *Peer) {
	h.mu.Lock()
	delete(h.peers, p)
	h.mu.Unlock()
}

// The writer's step: the encoder follows the players, at most every
// rateApplyInterval and by rateApplyMinChange or more; controller-mode and
// disconnected peers do not count. The clock is the test's.
func TestAdaptVideoRate(t *testing.T) {
	h := newTestHub(t, Settings{})
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, h.kbps)
	if err != nil {
		t.Fatal(err)
	}
	h.vp8 = enc // no frame is written: the test is the writer
	now := time.Now()
	step := func(want int, why string) {
		t.Helper()
		now = now.Add(rateApplyInterval)
		h.adaptVideoRate(now)
		if got := h.VideoKbps(); got != want {
			t.Fatalf("%s: VideoKbps = %d, want %d", why, got, want)
		}
		if got := h.vp8.Bitrate(); got != want {
			t.Fatalf("%s: the encoder runs at %d, want %d", why, got, want)
		}
	}
	step(defaultVideoKbps, "nobody")
	player, pe := fakePeer(t, h, true, true, 800)
	spectator, se := fakePeer(t, h, false, true, 300)
	fakePeer(t, h, true, false, 100) // controller mode: no video
	gone, _ := fakePeer(t, h, true, true, 100)
	gone.connected = false
	step(800, "a player and a slow spectator")
	pe.setKbps(780)
	step(800, "a 2.5 % change")
	pe.setKbps(500)
	h.adaptVideoRate(now.Add(rateApplyInterval / 2))
	if got := h.VideoKbps(); got != 800 {
		t.Fatalf("the rate changed to %d before rateApplyInterval", got)
	}
	step(500, "the player's link slowed")
	player.rate.setREMB(400, now)
	step(400, "the player's REMB is lower")
	now = now.Add(rembFreshness)
	step(500, "the REMB is stale")
	removeFake(h, player)
	step(300, "only the spectator watches")
	se.setKbps(50)
	step(minVideoKbps, "the spectator's link is very slow")
	removeFake(h, spectator)
	step(defaultVideoKbps, "nobody watches")
}

// GCC's target counts only while it says the link is congested: a calm link
// whose GCC sits low because the picture needs little (application-limited)
// keeps the encoder at the maximum, and after congestion the rate climbs back
// by linkIncreasePerS a second, never below GCC's own target.
func TestLinkRateFollowsGCCOnlyWhenCongested(t *testing.T) {
	const maxKbps = 1500
	est := &fixedEstimate{}
	r := &peerRate{bwe: est}
	now := time.Now()
	tick := func(d time.Duration) int {
		now = now.Add(d)
		r.observe(now, maxKbps)
		kbps, _ := r.estimateKbps(now)
		return kbps
	}
	est.calm.Store(true)
	est.setKbps(minVideoKbps) // GCC pinned low by a black picture
	if got := tick(time.Second); got != maxKbps {
		t.Fatalf("calm, application-limited link: %d kbit/s, want the maximum %d", got, maxKbps)
	}
	est.calm.Store(false)
	est.setKbps(600)
	if got := tick(frameTime); got != 600 {
		t.Fatalf("congested: %d kbit/s, want GCC's 600", got)
	}
	est.setKbps(900) // GCC's target moves up while still congested: the rate holds
	if got := tick(frameTime); got != 600 {
		t.Fatalf("still congested: %d kbit/s, want 600 held", got)
	}
	est.calm.Store(true)
	est.setKbps(200)
	got := tick(time.Second)
	if want := int(600 * linkIncreasePerS); got != want {
		t.Fatalf("a second after the congestion: %d kbit/s, want %d", got, want)
	}
	est.setKbps(1400) // GCC sees more room than the slow climb: take it
	if got := tick(frameTime); got != 1400 {
		t.Fatalf("GCC's higher target: %d, want 1400", got)
	}
	if got := tick(10 * time.Second); got != maxKbps {
		t.Fatalf("long calm: %d, want the maximum", got)
	}
}

// frameTime is one 60 Hz frame, the writer's pace.
const frameTime = time.Second / 60

// The writer's step for sound: the worst fresh loss of any peer becomes the
// Opus encoder's hint.
func TestAdaptAudioLoss(t *testing.T) {
	h := newTestHub(t, Settings{})
	enc, err := NewOpusEncoder(opusSampleRate, opusChannels, opusBitrate)
	if err != nil {
		t.Fatal(err)
	}
	h.opus = enc
	now := time.Now()
	step := func(want int, why string) {
		t.Helper()
		now = now.Add(rateApplyInterval)
		h.adaptAudioLoss(now)
		if got, err := h.opus.packetLossPerc(); err != nil || got != want {
			t.Fatalf("%s: loss hint %d (%v), want %d", why, got, err, want)
		}
	}
	step(0, "no report")
	a, _ := fakePeer(t, h, true, true, defaultVideoKbps)
	b, _ := fakePeer(t, h, false, false, 0)
	a.rate.setAudioLoss(13, now) // 5 %
	b.rate.setAudioLoss(51, now) // 20 %
	step(20, "two peers")
	b.rate.setAudioLoss(0, now)
	step(5, "the worse one recovered")
	now = now.Add(lossFreshness)
	step(0, "the reports are stale")
}

// The offer asks for transport-wide feedback on video only.
func TestOfferHasTransportCC(t *testing.T) {
	h := newTestHub(t, Settings{})
	peer, offer, err := h.NewPeer(PeerEvents{})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offer); err != nil {
		t.Fatal(err)
	}
	for _, m := range desc.MediaDescriptions {
		ext, fb := false, false
		for _, a := range m.Attributes {
			ext = ext || a.Key == "extmap" && strings.HasSuffix(a.Value, sdp.TransportCCURI)
			fb = fb || a.Key == "rtcp-fb" && strings.HasSuffix(a.Value, " "+webrtc.TypeRTCPFBTransportCC)
		}
		video := m.MediaName.Media == "video"
		if m.MediaName.Media == "application" {
			continue
		}
		if ext != video || fb != video {
			t.Errorf("m=%s: transport-cc extension %v, feedback %v; want %v", m.MediaName.Media, ext, fb, video)
		}
	}
}

// refusingRTCP stands for GCC refusing a feedback packet: it fails every read
// that the transport delivered.
type refusingRTCP struct{ interceptor.NoOp }

func (*refusingRTCP) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if _, _, err := reader.Read(b, a); err != nil {
			return 0, nil, err
		}
		return 0, nil, errors.New("invalid feedback")
	})
}

// A batch the estimator refuses still reaches the sender's reader (PLI,
// NACK); the transport's own error still ends it.
func TestRefusedFeedbackStillRead(t *testing.T) {
	batches := [][]byte{[]byte("batch")}
	source := interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if len(batches) == 0 {
			return 0, nil, io.EOF
		}
		n := copy(b, batches[0])
		batches = batches[1:]
		return n, a, nil
	})
	reader := videoOnlyInterceptor{&refusingRTCP{}}.BindRTCPReader(source)
	buf := make([]byte, 16)
	n, _, err := reader.Read(buf, nil)
	if err != nil || string(buf[:n]) != "batch" {
		t.Fatalf("read %q, %v; want the batch", buf[:n], err)
	}
	if _, _, err := reader.Read(buf, nil); !errors.Is(err, io.EOF) {
		t.Fatalf("read after the end: %v, want EOF", err)
	}
}

// testNoise is the noise of the busy pictures (noisyPattern).
const testNoise = 32

// busyFrames are n pictures that move and carry noise (noisyPattern), so the
// stream fills its rate.
func busyFrames(n, noise int) []*image.RGBA {
	r := rand.New(rand.NewPCG(3, 4))
	frames := make([]*image.RGBA, n)
	for i := range frames {
		frames[i] = image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
		noisyPattern(frames[i], i, noise, r)
	}
	return frames
}

// stream writes frames (and their sound) at the frame rate until done
// returns true or the time runs out; it reports whether done did.
func stream(h *Hub, frames []*image.RGBA, within time.Duration, done func() bool) bool {
	info := emu.Info{Width: testWidth, Height: testHeight, FPS: testFPS, SampleRate: opusSampleRate}
	const frameRate = int(testFPS)
	audio := make([]int16, opusSampleRate/frameRate*opusChannels)
	tick := time.NewTicker(time.Second / time.Duration(frameRate))
	defer tick.Stop()
	deadline := time.After(within)
	for n := 0; ; n++ {
		if done() {
			return true
		}
		select {
		case <-deadline:
			return false
		case <-tick.C:
		}
		h.WriteFrame(frames[n%len(frames)], audio, info)
	}
}

// gccStats is what GCC says of a peer; ok is false for a peer without it.
func gccStats(p *Peer) (map[string]any, bool) {
	if p.rate.bwe == nil {
		return nil, false
	}
	return p.rate.bwe.GetStats(), true
}

// A real pion receiver sends transport-wide feedback for the stream, the
// peer's GCC takes it, and on an uncongested link the estimate, and so the
// encoder's rate, stays within [minVideoKbps, VideoKbps].
func TestGCCTakesTransportFeedback(t *testing.T) {
	h := newTestHub(t, Settings{})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	fed := func() bool {
		stats, ok := gccStats(v.peer)
		// GCC's loss side reports a target only once acknowledgements came in.
		target, _ := stats["lossTargetBitrate"].(int)
		return ok && target > 0
	}
	if !stream(h, busyFrames(8, testNoise), generous, fed) {
		stats, _ := gccStats(v.peer)
		t.Fatalf("GCC got no transport-wide feedback: %v", stats)
	}
	stats, _ := gccStats(v.peer)
	est, _ := v.peer.rate.estimateKbps(time.Now())
	t.Logf("GCC: %v; estimate %d kbps, encoder %d kbps", stats, est, h.VideoKbps())
	for name, kbps := range map[string]int{"the estimate": est, "the encoder's rate": h.VideoKbps()} {
		if kbps < minVideoKbps || kbps > defaultVideoKbps {
			t.Errorf("%s is %d kbps, out of [%d, %d]", name, kbps, minVideoKbps, defaultVideoKbps)
		}
	}
}

// Receivers' REMB caps the rate through the same path; a spectator's does
// not lower the picture while a player watches.
func TestREMBLowersRateForPlayersOnly(t *testing.T) {
	const spectatorKbps, playerKbps = 200, 300
	h := newTestHub(t, Settings{})
	player := dialViewer(t, h)
	spectator := dialViewerWith(t, h, PeerOptions{Spectator: true})
	for _, v := range []*viewer{player, spectator} {
		v.waitConnected(t)
	}
	waitHubConnected(t, h, 2)
	frames := busyFrames(8, testNoise)
	if !stream(h, frames, generous, func() bool { return player.videoSSRC.Load() != 0 && spectator.videoSSRC.Load() != 0 }) {
		t.Fatal("no video arrived")
	}
	remb := func(v *viewer, kbps int) {
		t.Helper()
		pkt := &rtcp.ReceiverEstimatedMaximumBitrate{Bitrate: float32(kbps * bitsPerKbit), SSRCs: []uint32{v.videoSSRC.Load()}}
		if err := v.pc.WriteRTCP([]rtcp.Packet{pkt}); err != nil {
			t.Fatal(err)
		}
	}
	// Sent again every frame: a REMB counts for rembFreshness.
	spectatorHeard := func() bool {
		remb(spectator, spectatorKbps)
		spectator.peer.rate.mu.Lock()
		defer spectator.peer.rate.mu.Unlock()
		return spectator.peer.rate.rembKbps == spectatorKbps
	}
	if !stream(h, frames, generous, spectatorHeard) {
		t.Fatal("the hub never got the spectator's REMB")
	}
	reached := func() bool {
		remb(spectator, spectatorKbps)
		remb(player, playerKbps)
		return h.VideoKbps() == playerKbps
	}
	if !stream(h, frames, generous, reached) {
		t.Fatalf("the rate is %d kbps, want the player's REMB of %d (the spectator's is %d)", h.VideoKbps(), playerKbps, spectatorKbps)
	}
}

// A receiver report on the audio stream gives the peer's audio loss.
func TestAudioReceiverReportLoss(t *testing.T) {
	const frac = 51 // 20 %
	h := newTestHub(t, Settings{})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	var audioSSRC uint32
	for _, s := range v.peer.pc.GetSenders() {
		if s.Track() != nil && s.Track().Kind() == webrtc.RTPCodecTypeAudio {
			audioSSRC = uint32(s.GetParameters().Encodings[0].SSRC)
		}
	}
	if audioSSRC == 0 {
		t.Fatal("the peer has no audio sender")
	}
	// Sent until seen: the receiver's own reports (no loss) come in between.
	heard := func() bool {
		rr := &rtcp.ReceiverReport{SSRC: 1, Reports: []rtcp.ReceptionReport{{SSRC: audioSSRC, FractionLost: frac}}}
		if err := v.pc.WriteRTCP([]rtcp.Packet{rr}); err != nil {
			t.Fatal(err)
		}
		got, ok := v.peer.rate.audioLoss(time.Now())
		return ok && got == frac
	}
	if !stream(h, busyFrames(2, testNoise), generous, heard) {
		t.Fatal("the hub never took the audio receiver report's loss")
	}
}

// cappedRelay stands between the hub and one client like a slow home link:
// the client sends to it as if it were the hub, and what the hub sends back
// goes out at most at kbps, after a router queue of at most queueLimit; what
// does not fit in the queue is dropped.
type cappedRelay struct {
	front, back *net.UDPConn // the client's side, the hub's side
	hub         atomic.Pointer[net.UDPAddr]
	client      atomic.Pointer[net.UDPAddr]
	bitsPerSec  float64
	queueLimit  time.Duration

	mu      sync.Mutex
	free    time.Time // when the link has sent all it queued
	out     chan queued
	dropped atomic.Int64
}

type queued struct {
	due  time.Time
	data []byte
}

func newCappedRelay(t *testing.T, kbps int, queueLimit time.Duration) *cappedRelay {
	t.Helper()
	listen := func() *net.UDPConn {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	const outQueue = 4096 // packets; queueLimit is the real bound
	r := &cappedRelay{front: listen(), back: listen(), bitsPerSec: float64(kbps * bitsPerKbit),
		queueLimit: queueLimit, out: make(chan queued, outQueue)}
	var readers, sender sync.WaitGroup
	readers.Add(2)
	sender.Add(1)
	go func() { defer readers.Done(); r.toHub() }()
	go func() { defer readers.Done(); r.fromHub() }()
	go func() { defer sender.Done(); r.send() }()
	t.Cleanup(func() {
		r.front.Close()
		r.back.Close()
		readers.Wait()
		close(r.out)
		sender.Wait()
	})
	return r
}

func (r *cappedRelay) port() int { return r.front.LocalAddr().(*net.UDPAddr).Port }

func (r *cappedRelay) toHub() {
	buf := make([]byte, 1500)
	for {
		n, from, err := r.front.ReadFromUDP(buf)
		if err != nil {
			return
		}
		r.client.Store(from)
		if hub := r.hub.Load(); hub != nil {
			r.back.WriteToUDP(buf[:n], hub)
		}
	}
}

func (r *cappedRelay) fromHub() {
	buf := make([]byte, 1500)
	for {
		n, _, err := r.back.ReadFromUDP(buf)
		if err != nil {
			return
		}
		now := time.Now()
		r.mu.Lock()
		start := r.free
		if start.Before(now) {
			start = now
		}
		if start.Sub(now) > r.queueLimit {
			r.mu.Unlock()
			r.dropped.Add(1)
			continue
		}
		r.free = start.Add(time.Duration(float64(n*8) / r.bitsPerSec * float64(time.Second)))
		due := r.free
		r.mu.Unlock()
		select {
		case r.out <- queued{due: due, data: append([]byte(nil), buf[:n]...)}:
		default:
			r.dropped.Add(1)
		}
	}
}

func (r *cappedRelay) send() {
	for q := range r.out {
		time.Sleep(time.Until(q.due))
		if c := r.client.Load(); c != nil {
			r.front.WriteToUDP(q.data, c)
		}
	}
}

// chromeLikeAPI is clientAPI with an SRTP replay window as wide as Chrome's
// (1024 packets). With pion's default of 64 a retransmit that comes after a
// queue of 100 ms is refused as a replay, the receiver asks again and again,
// and each refused copy shows as a loss in its transport-wide feedback: GCC
// would then hold the rate at its floor on a link with room to spare.
func chromeLikeAPI(tb testing.TB) *webrtc.API {
	tb.Helper()
	const chromeReplayWindow = 1024
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	se.SetSRTPReplayProtectionWindow(chromeReplayWindow)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

// throughRelayOffer points the offer's UDP host candidates at the relay and
// returns the hub's address they had.
func throughRelayOffer(t *testing.T, offer string, relayPort int) (string, *net.UDPAddr) {
	t.Helper()
	var hub *net.UDPAddr
	lines := strings.Split(offer, "\r\n")
	for i, line := range lines {
		f := strings.Fields(line)
		// a=candidate:foundation component udp priority ip port typ host
		if len(f) < 8 || !strings.HasPrefix(f[0], "a=candidate:") || !strings.EqualFold(f[2], "udp") || f[7] != "host" {
			continue
		}
		port, err := strconv.Atoi(f[5])
		if err != nil {
			t.Fatal(err)
		}
		hub = &net.UDPAddr{IP: net.ParseIP(f[4]), Port: port}
		f[5] = strconv.Itoa(relayPort)
		lines[i] = strings.Join(f, " ")
	}
	if hub == nil {
		t.Fatalf("no UDP host candidate in the offer:\n%s", offer)
	}
	return strings.Join(lines, "\r\n"), hub
}

// On a link capped under the encoder's rate, the queue and the drops make GCC
// lower the estimate, and the encoder follows it under the cap: what an
// outside test checks on /healthz with a real browser.
func TestRateCappedLinkLowersVideoKbps(t *testing.T) {
	const (
		capKbps     = 600
		routerQueue = 100 * time.Millisecond // a home router's buffer
	)
	h := newTestHub(t, Settings{})
	peer, offer, err := h.NewPeer(PeerEvents{})
	if err != nil {
		t.Fatal(err)
	}
	relay := newCappedRelay(t, capKbps, routerQueue)
	rewritten, hubAddr := throughRelayOffer(t, offer, relay.port())
	relay.hub.Store(hubAddr)

	pc, err := chromeLikeAPI(t).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var videoPackets atomic.Int64
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			if _, _, err := tr.ReadRTP(); err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				videoPackets.Add(1)
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: rewritten}); err != nil {
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
	if err := peer.SetAnswer(pc.LocalDescription().SDP); err != nil {
		t.Fatal(err)
	}
	waitHubConnected(t, h, 1)

	start := time.Now()
	// Noise-free: at the lowest rates the encoder can then fit under the cap.
	if !stream(h, busyFrames(16, 0), generous, func() bool { return h.VideoKbps() < capKbps }) {
		stats, _ := gccStats(peer)
		t.Fatalf("after %v on a %d kbps link the video rate is still %d kbps; GCC: %v; relay dropped %d packets, client got %d video packets",
			time.Since(start).Round(time.Millisecond), capKbps, h.VideoKbps(), stats, relay.dropped.Load(), videoPackets.Load())
	}
	stats, _ := gccStats(peer)
	t.Logf("under the %d kbps cap after %v: %d kbps; GCC: %v; relay dropped %d packets",
		capKbps, time.Since(start).Round(time.Millisecond), h.VideoKbps(), stats, relay.dropped.Load())
}

// Thinning: delta frames that would overshoot the target at every frame make
// the writer send one in n (up to maxThinning), and a frame that fits brings
// every frame back; a joining viewer's frame is never skipped.
func TestThinningFollowsWhatTheEncoderCanReach(t *testing.T) {
	const fps = 60
	for _, tc := range []struct {
		bytes, kbps, every int
	}{
		{2400, 1500, 1}, // 1152 kbit/s fits 1500
		{2400, 500, 2},  // twice over: every second frame
		{2400, 280, 4},  // four times over
		{2400, 150, 4},  // no fewer than 15 fps
		{1000, 500, 1},  // CBR at its target
	} {
		var th thinning
		for i := 0; i < 100; i++ {
			th.measure(tc.bytes, fps, tc.kbps)
		}
		if th.every != tc.every {
			t.Errorf("%d-byte frames at %d kbit/s: one frame in %d, want %d", tc.bytes, tc.kbps, th.every, tc.every)
		}
		sent := 0
		for i := 0; i < 60; i++ {
			if !th.skip(false) {
				sent++
			}
		}
		if sent != 60/tc.every {
			t.Errorf("%d-byte frames at %d kbit/s: %d of 60 frames sent, want %d", tc.bytes, tc.kbps, sent, 60/tc.every)
		}
	}
	th := thinning{every: 4}
	for i := 0; i < 8; i++ {
		if th.skip(true) {
			t.Fatal("a frame a joining viewer waits for was skipped")
		}
	}
	// The picture calms down: the average follows, and every frame goes again.
	th = thinning{}
	for i := 0; i < 100; i++ {
		th.measure(2400, fps, 500)
	}
	var before, after int
	for i := 0; i < 100; i++ {
		before, after = th.measure(600, fps, 500)
	}
	if before != 1 || after != 1 {
		t.Errorf("after calm frames: one in %d (was %d), want every frame", after, before)
	}
}
