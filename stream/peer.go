package stream

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"
)

// One browser's PeerConnection: its construction (an offer for a page, an
// answer for WHEP, whep.go), its connection state and watchdog, RTCP from it,
// and its end.

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
			p.hub.addViewers(1)
			// A new viewer can only start decoding on a keyframe.
			p.hub.RequestKeyframe()
		} else {
			p.hub.addViewers(-1)
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
			switch kind {
			case webrtc.RTPCodecTypeAudio:
				if frac, ok := fractionLost(pkt, ssrc); ok {
					p.rate.setAudioLoss(frac, now)
				}
			case webrtc.RTPCodecTypeVideo:
				// A NACK says a packet went missing (before any copy or
				// retransmit came); a report, one that stayed lost.
				if frac, ok := fractionLost(pkt, ssrc); isNack(pkt) || ok && frac > 0 {
					p.rate.setVideoLoss(now)
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
			p.hub.addViewers(-1)
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
