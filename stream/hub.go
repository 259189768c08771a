// Package stream is the media side of couchplay: it encodes every emulated
// frame once (VP8 + Opus) and fans the packets out to one pion PeerConnection
// per browser, and it carries input back from each browser's data channel.
package stream

import (
	"errors"
	"fmt"
	"image"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"couchplay/emu"
	"couchplay/lan"
)

// Media settings. Opus runs at 48 kHz stereo in 10 ms frames, the shortest
// frame that keeps its quality for game sound.
const (
	opusSampleRate   = 48000
	opusChannels     = 2
	opusFrameSize    = opusSampleRate / 100 // 10 ms
	opusBitrate      = 96000
	defaultVideoKbps = 1500
	// gatherWait bounds how long an offer waits for its host candidates.
	gatherWait = 200 * time.Millisecond
)

// Settings configure the Hub.
type Settings struct {
	// ListenIP restricts ICE to one address (tests listen on 127.0.0.1 so no
	// packet leaves it). Nil or unspecified: every LAN interface.
	ListenIP net.IP
	// VideoKbps is the VP8 target bitrate, and the most congestion control
	// gives it (congestion.go); 0 picks a default.
	VideoKbps int
	Logger    *slog.Logger
	// ConnectTimeout ends a peer that is not Connected this long after its
	// offer (NewPeer) or answer (AnswerPeer); 0 = 15 s.
	ConnectTimeout time.Duration
	// DisconnectedTimeout ends a peer that stays Disconnected this long; 0 = 5 s.
	DisconnectedTimeout time.Duration
	// ICESilenceTimeout: no packet from the browser this long and the peer is
	// Disconnected (pion's ICE disconnected timeout); 0 = 5 s.
	ICESilenceTimeout time.Duration
}

// Hub owns the shared tracks and encoders and the set of peers.
type Hub struct {
	// One media and setting engine for every peer; the interceptors are built
	// per peer (newAPI). pion copies the MediaEngine into each PeerConnection.
	media    *webrtc.MediaEngine
	settings webrtc.SettingEngine
	log      *slog.Logger
	kbps     int // the most video bitrate, Settings.VideoKbps
	video    *webrtc.TrackLocalStaticSample
	audio    *webrtc.TrackLocalStaticSample

	connectTimeout, disconnectedTimeout time.Duration

	// Frame loop side (WriteFrame).
	badRate bool       // a core's sound is not at 48 kHz: said once, then dropped
	vclock  frameClock // guarded by wmu

	// Handover to the writer goroutine (writer.go).
	wmu     sync.Mutex
	pend    pending
	wcur    *writerRun    // the running writer; nil while nobody watches
	wlast   *writerRun    // the newest writer started (running or ending)
	wclosed bool          // Shutdown: no more writers
	wake    chan struct{} // cap 1: there is pending work

	// Encoder state; touched only by the writer goroutine.
	vp8     *VP8Encoder
	vp8Size image.Point
	opus    *OpusEncoder
	pcm     []int16   // audio waiting for a whole Opus frame
	rate    rateState // congestion control (congestion.go)

	videoKbps atomic.Int32 // the VP8 encoder's current target, kbit/s

	keys      keyframeGate // join: next frame is a keyframe; PLI/FIR: throttled
	connected atomic.Int32

	audioSeq uint16  // audio data channel sequence number; writer goroutine
	audioTS  uint32  // its timestamp of the next packet, 48 kHz samples; writer goroutine
	audioMsg []byte  // the message being sent; writer goroutine
	audioOut []*Peer // peers with an open audio channel, gathered per packet; writer goroutine

	mu     sync.Mutex
	peers  map[*Peer]struct{}
	closed bool

	// audioPrev is the Opus packet the audio data channel sent last (sequence
	// audioSeq − 1): the next message carries it again, so a page that lost
	// it decodes it from there (MsgAudioRedundant). Writer goroutine.
	audioPrev []byte
}

// NewHub builds the pion API with couchplay's codecs, interceptors and ICE settings.
func NewHub(s Settings) (*Hub, error) {
	if s.Logger == nil {
		s.Logger = slog.Default()
	}
	if s.VideoKbps <= 0 {
		s.VideoKbps = defaultVideoKbps
	}
	if s.ConnectTimeout <= 0 {
		s.ConnectTimeout = defaultConnectTimeout
	}
	if s.DisconnectedTimeout <= 0 {
		s.DisconnectedTimeout = defaultDisconnectedTimeout
	}
	if s.ICESilenceTimeout <= 0 {
		s.ICESilenceTimeout = defaultICESilenceTimeout
	}
	me := &webrtc.MediaEngine{}
	// transport-cc: Chrome sends transport-wide feedback for GCC (congestion.go).
	videoFeedback := []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "ccm", Parameter: "fir"},
		{Type: webrtc.TypeRTCPFBTransportCC}}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000, RTCPFeedback: videoFeedback},
		PayloadType:        96,
	}, webrtc.RTPCodecTypeVideo); err != nil {
		return nil, err
	}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: opusSampleRate, Channels: opusChannels,
			SDPFmtpLine: "minptime=10;useinbandfec=1;stereo=1;sprop-stereo=1"},
		PayloadType: 111,
	}, webrtc.RTPCodecTypeAudio); err != nil {
		return nil, err
	}
	// Video only: GCC estimates what the video may use, next to the sound.
	for _, uri := range []string{playoutDelayURI, sdp.TransportCCURI} {
		if err := me.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: uri}, webrtc.RTPCodecTypeVideo); err != nil {
			return nil, err
		}
	}

	se := webrtc.SettingEngine{}
	// mDNS candidates would add a lookup before media and leak packets onto
	// the LAN; the browser gets plain host candidates instead.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	// Without this pion waits ~1 s before it accepts the browser's peer-reflexive
	// candidate, and that second is all on the first frame.
	se.SetPrflxAcceptanceMinWait(0)
	se.SetIncludeLoopbackCandidate(true)
	se.SetLite(true)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4, webrtc.NetworkTypeUDP6})
	// Silence -> Disconnected after ICESilenceTimeout; the watchdog ends the
	// peer DisconnectedTimeout later. pion's own Failed comes after that, as
	// a backstop. Keepalives well inside the silence window.
	se.SetICETimeouts(s.ICESilenceTimeout, s.ICESilenceTimeout+s.DisconnectedTimeout+5*time.Second, min(2*time.Second, s.ICESilenceTimeout/3))
	if ip := s.ListenIP; ip != nil && !ip.IsUnspecified() {
		se.SetIPFilter(func(candidate net.IP) bool { return candidate.Equal(ip) })
	} else {
		se.SetInterfaceFilter(lan.IsLANInterface)
	}

	h := &Hub{
		media:    me,
		settings: se,
		log:      s.Logger,
		kbps:     s.VideoKbps,
		rate:     rateState{infoKbps: s.VideoKbps, lossPct: -1},
		peers:    map[*Peer]struct{}{},

		connectTimeout:      s.ConnectTimeout,
		disconnectedTimeout: s.DisconnectedTimeout,
		wake:                make(chan struct{}, 1),
	}
	h.videoKbps.Store(int32(s.VideoKbps))
	var err error
	if h.video, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "couchplay"); err != nil {
		return nil, err
	}
	if h.audio, err = webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus}, "audio", "couchplay"); err != nil {
		return nil, err
	}
	return h, nil
}

// RequestKeyframe makes the next encoded frame a keyframe (a viewer joined, a
// new game started); it is never throttled.
func (h *Hub) RequestKeyframe() { h.keys.join() }

// pictureLost asks for a keyframe for a viewer's PLI/FIR, at most one per
// pliInterval for all viewers together.
func (h *Hub) pictureLost() { h.keys.loss() }

// Connected is the number of peers whose connection is up.
func (h *Hub) Connected() int { return int(h.connected.Load()) }

// WriteFrame hands one emulated frame and its audio to the writer goroutine,
// which encodes them once and sends them to every peer (writer.go). It is the
// frame loop's sink (emu.FrameSink) and runs on its goroutine; it only copies
// the frame, so no encode or network send delays the next frame.
func (h *Hub) WriteFrame(frame *image.RGBA, audio []int16, info emu.Info) {
	if h.Connected() == 0 {
		// Nobody watches: spend no CPU, and let the first viewer start on a keyframe.
		h.idle()
		h.RequestKeyframe()
		return
	}
	if len(audio) > 0 && info.SampleRate != opusSampleRate && !h.badRate {
		// Cores deliver 48 kHz (libretro resamples in its child with
		// libspeexdsp); anything else would play at the wrong speed.
		h.badRate = true
		h.log.Error("dropping the game's sound: it is not at 48 kHz", "rate", info.SampleRate)
	}
	h.enqueue(frame, audio, info)
}

// Shutdown closes every peer, stops the writer goroutine and closes the
// encoders. Call it after the frame loop stopped; a later WriteFrame is dropped.
func (h *Hub) Shutdown() {
	h.mu.Lock()
	h.closed = true
	peers := make([]*Peer, 0, len(h.peers))
	for p := range h.peers {
		peers = append(peers, p)
	}
	h.mu.Unlock()
	for _, p := range peers {
		p.Close()
	}
	h.wmu.Lock()
	h.wclosed = true
	h.stopWriterLocked()
	last := h.wlast
	h.wmu.Unlock()
	if last != nil {
		<-last.done // the writers own the encoders until they return
	}
	if h.vp8 != nil {
		h.vp8.Close()
		h.vp8 = nil
	}
	if h.opus != nil {
		h.opus.Close()
		h.opus = nil
	}
}

// PeerEvents are the callbacks of one peer; they run on pion's goroutines.
type PeerEvents struct {
	Candidate func(webrtc.ICECandidateInit) // a local ICE candidate to trickle to the browser
	Input     func(msg []byte)              // a data channel message from the browser
	Failed    func(reason string)           // the connection failed or timed out (no route, the far end vanished); called at most once, before Closed
	Closed    func()                        // the peer ended, for any reason (also a failure or timeout: a peer ends itself); called once
}

// Peer is one browser's PeerConnection.
type Peer struct {
	hub       *Hub
	pc        *webrtc.PeerConnection
	ev        PeerEvents
	closeOnce sync.Once
	endSaid   atomic.Bool // Closed was called
	failSaid  atomic.Bool // Failed was called
	watch     *watchdog
	audioDC   *webrtc.DataChannel // the audio data channel, or nil if the page did not ask
	player    bool                // a player's page (slots 1-4): its link sets the video rate
	hasVideo  bool                // it was given the video track
	rate      peerRate            // what its feedback says about the link (congestion.go)

	mu        sync.Mutex
	connected bool // counted in hub.connected
	closed    bool
}

// newPeer creates a PeerConnection with couchplay's settings and its state bookkeeping.
func (h *Hub) newPeer(ev PeerEvents) (*Peer, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, errors.New("host is shutting down")
	}
	p := &Peer{hub: h, ev: ev}
	api, err := h.newAPI(p)
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, fmt.Errorf("new peer connection: %w", err)
	}
	p.pc = pc
	p.watch = newWatchdog(h.connectTimeout, h.disconnectedTimeout, p.fail)
	pc.OnConnectionStateChange(p.stateChanged)
	if ev.Candidate != nil {
		pc.OnICECandidate(func(c *webrtc.ICECandidate) {
			if c != nil {
				ev.Candidate(c.ToJSON())
			}
		})
	}
	return p, nil
}

// newAPI builds the pion API of one peer: the shared media and setting
// engines, and a registry of its own, so that its bandwidth estimator is
// known to be p's (congestion.go). Registry order is chain order: on the way
// out the last one added sees a packet first.
func (h *Hub) newAPI(p *Peer) (*webrtc.API, error) {
	reg := &interceptor.Registry{}
	// First, so it sees a packet last, just before the transport: a copy is
	// then the very packet sent, transport-wide sequence number included. A
	// copy with a number of its own would read as lost to GCC whenever the
	// browser drops it as the duplicate it is.
	reg.Add(tailCopyFactory{})
	if err := h.addCongestionControl(reg, p); err != nil {
		return nil, err
	}
	// What webrtc.ConfigureNack adds, without its MediaEngine changes: NewHub
	// lists the feedback once, and the engine is shared.
	responder, err := nack.NewResponderInterceptor()
	if err != nil {
		return nil, err
	}
	generator, err := nack.NewGeneratorInterceptor()
	if err != nil {
		return nil, err
	}
	reg.Add(responder)
	reg.Add(generator)
	if err := webrtc.ConfigureRTCPReports(reg); err != nil {
		return nil, err
	}
	reg.Add(playoutDelayFactory{})
	return webrtc.NewAPI(webrtc.WithMediaEngine(h.media), webrtc.WithInterceptorRegistry(reg), webrtc.WithSettingEngine(h.settings)), nil
}

// addSendTracks adds the shared tracks of the kinds wanted, sendonly, and
// reads their RTCP (keyframe on picture loss).
func (p *Peer) addSendTracks(want func(webrtc.RTPCodecType) bool) error {
	for _, track := range []*webrtc.TrackLocalStaticSample{p.hub.video, p.hub.audio} {
		if !want(track.Kind()) {
			continue
		}
		tr, err := p.pc.AddTransceiverFromTrack(track, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
		if err != nil {
			return fmt.Errorf("add %s track: %w", track.Kind(), err)
		}
		if track.Kind() == webrtc.RTPCodecTypeVideo {
			p.hasVideo = true
		}
		go p.readRTCP(tr.Sender(), track.Kind())
	}
	return nil
}

// setLocalAndGather applies the local description and waits, up to wait, for
// the host candidates to be in it.
func (p *Peer) setLocalAndGather(desc webrtc.SessionDescription, wait time.Duration) error {
	gathered := webrtc.GatheringCompletePromise(p.pc)
	if err := p.pc.SetLocalDescription(desc); err != nil {
		return fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(wait):
		p.hub.log.Warn("ICE gathering did not finish in time; going on with the candidates found so far", "wait", wait)
	}
	return nil
}

// register adds a set-up peer to the hub, unless the hub shut down meanwhile.
func (h *Hub) register(p *Peer) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return errors.New("host is shutting down")
	}
	h.peers[p] = struct{}{}
	return nil
}

// PeerOptions choose what a browser's peer carries besides the RTP audio
// track and the input channel, which every peer has.
type PeerOptions struct {
	// NoVideo: a phone in controller mode shows no picture, so it is sent
	// none to decode (and spends no radio on it).
	NoVideo bool
	// AudioChannel: also send the Opus packets over the audio data channel
	// (audiochannel.go). The RTP audio track stays, for the page to fall back on.
	AudioChannel bool
	// Spectator: a watcher, not a player. Its link lowers the video rate only
	// when no player watches (congestion.go). WHEP peers count as spectators.
	Spectator bool
}

// NewPeer creates a PeerConnection carrying the shared tracks and an input
// data channel, and returns it with the host's SDP offer.
func (h *Hub) NewPeer(ev PeerEvents) (*Peer, string, error) {
	return h.NewPeerWith(PeerOptions{}, ev)
}

// NewPeerWith is NewPeer with options.
func (h *Hub) NewPeerWith(opt PeerOptions, ev PeerEvents) (*Peer, string, error) {
	video := !opt.NoVideo
	p, err := h.newPeer(ev)
	if err != nil {
		return nil, "", err
	}
	p.player = !opt.Spectator
	pc := p.pc
	fail := func(err error) (*Peer, string, error) {
		p.Close()
		return nil, "", err
	}
	if err := p.addSendTracks(func(kind webrtc.RTPCodecType) bool { return video || kind != webrtc.RTPCodecTypeVideo }); err != nil {
		return fail(err)
	}
	ordered, retransmits := false, uint16(0)
	dc, err := pc.CreateDataChannel(InputLabel, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &retransmits})
	if err != nil {
		return fail(fmt.Errorf("create input channel: %w", err))
	}
	dc.OnMessage(func(msg webrtc.DataChannelMessage) {
		if ev.Input != nil {
			ev.Input(msg.Data)
		}
	})
	if opt.AudioChannel {
		// Created before the offer, like the input channel, so the page has it
		// with no renegotiation.
		if p.audioDC, err = pc.CreateDataChannel(AudioLabel, &webrtc.DataChannelInit{Ordered: &ordered, MaxRetransmits: &retransmits}); err != nil {
			return fail(fmt.Errorf("create audio channel: %w", err))
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return fail(fmt.Errorf("create offer: %w", err))
	}
	// Host candidates gather in about a millisecond (no STUN): putting them in
	// the offer lets the browser start its checks the moment it answers,
	// instead of after a trickle round trip. Slower ones still trickle.
	if err := p.setLocalAndGather(offer, gatherWait); err != nil {
		return fail(err)
	}
	if err := h.register(p); err != nil {
		return fail(err)
	}
	p.watch.arm() // the page has until ConnectTimeout to answer and connect
	return p, pc.LocalDescription().SDP, nil
}

// stateChanged keeps hub.connected right. pion calls it on a new goroutine per
// change, so calls can arrive out of order: it reads the current state instead
// of trusting the one it was called with.
func (p *Peer) stateChanged(webrtc.PeerConnectionState) {
	state := p.pc.ConnectionState()
	p.mu.Lock()
	up := state == webrtc.PeerConnectionStateConnected && !p.closed
	changed := up != p.connected
	p.connected = up
	p.mu.Unlock()
	if changed {
		if up {
			p.hub.connected.Add(1)
			// A new viewer can only start decoding on a keyframe.
			p.hub.RequestKeyframe()
		} else {
			p.hub.connected.Add(-1)
		}
	}
	// Failed, Disconnected too long, never Connected: the watchdog calls fail.
	p.watch.observe(state)
	if state == webrtc.PeerConnectionStateClosed {
		p.ended() // the far end closed it (DTLS close_notify), or Close did
	}
}

// fail ends a peer whose connection failed or timed out: Failed (the page is
// told why), then Close and so Closed, each once.
func (p *Peer) fail(reason string) {
	if p.isClosed() {
		return
	}
	p.hub.log.Info("ending a WebRTC peer", "reason", reason, "state", p.pc.ConnectionState().String())
	if p.ev.Failed != nil && p.failSaid.CompareAndSwap(false, true) {
		p.ev.Failed(reason)
	}
	p.Close()
}

// ended reports the end of the peer once. Not a sync.Once: the Closed handler
// usually calls Close, which comes back here, and must not wait on itself.
func (p *Peer) ended() {
	if p.ev.Closed != nil && p.endSaid.CompareAndSwap(false, true) {
		p.ev.Closed()
	}
}

func (p *Peer) isConnected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.connected
}

func (p *Peer) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// readRTCP drains the sender's RTCP (pion needs it read for its interceptors),
// turns picture-loss reports into a keyframe and keeps what the receiver says
// of the link: REMB, and the audio loss for the Opus encoder (congestion.go).
// It ends when the peer closes.
func (p *Peer) readRTCP(sender *webrtc.RTPSender, kind webrtc.RTPCodecType) {
	var ssrc uint32
	if enc := sender.GetParameters().Encodings; len(enc) > 0 {
		ssrc = uint32(enc[0].SSRC)
	}
	for {
		packets, _, err := sender.ReadRTCP()
		if err != nil {
			return
		}
		now := time.Now()
		for _, pkt := range packets {
			if isKeyframeRequest(pkt) {
				p.hub.pictureLost()
			}
			if bps, ok := rembBitrate(pkt); ok {
				p.rate.setREMB(bps/bitsPerKbit, now)
			}
			if kind == webrtc.RTPCodecTypeAudio {
				if frac, ok := fractionLost(pkt, ssrc); ok {
					p.rate.setAudioLoss(frac, now)
				}
			}
		}
	}
}

// SetAnswer applies the browser's SDP answer.
func (p *Peer) SetAnswer(sdp string) error {
	return p.pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: sdp})
}

// AddCandidate adds a trickled remote ICE candidate.
func (p *Peer) AddCandidate(c webrtc.ICECandidateInit) error {
	return p.pc.AddICECandidate(c)
}

// Close tears the peer down; it is safe to call more than once.
func (p *Peer) Close() {
	p.closeOnce.Do(func() {
		p.watch.stop()
		p.mu.Lock()
		p.closed = true
		wasUp := p.connected
		p.connected = false
		p.mu.Unlock()
		if wasUp {
			p.hub.connected.Add(-1)
		}
		p.hub.mu.Lock()
		delete(p.hub.peers, p)
		p.hub.mu.Unlock()
		if err := p.pc.Close(); err != nil {
			p.hub.log.Debug("peer close", "err", err)
		}
	})
	// Outside the Once: the Closed handler usually calls Close again, which
	// must find the Once done rather than wait on itself.
	p.ended()
}
