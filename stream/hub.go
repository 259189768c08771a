// Package stream is the media side of couchplay: it encodes every emulated
// frame once (VP8 + Opus) and fans the packets out to one pion PeerConnection
// per browser, and it carries input back from each browser's data channel.
package stream

import (
	"image"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"couchplay/emu"
)

// Media settings. Opus runs at 48 kHz stereo (CELT, restricted low delay) in
// 2.5 ms frames, packed as each emulated frame's sound (audiochannel.go says
// why): at 96 kbit/s CELT keeps game sound clean at that frame size.
const (
	opusSampleRate   = 48000
	opusChannels     = 2
	opusFrameSize    = opusSampleRate / 400 // 2.5 ms
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
	thin      thinning     // fewer frames when the encoder cannot get down to the target; writer goroutine
	connected atomic.Int32
	// onViewers hears every change of connected (OnViewers).
	onViewers atomic.Pointer[func(int)]

	audioSeq uint16 // audio data channel sequence number; writer goroutine
	audioTS  uint32 // its timestamp of the next packet, 48 kHz samples; writer goroutine
	audioMsg []byte // the message being sent, the new packet alone; writer goroutine
	// audioMsgCopies is the same with the copies, for peers whose link loses sound; writer goroutine.
	audioMsgCopies []byte
	// The resend of the newest packet to those peers, AudioResendDelay
	// later: the message, who gets it, and the writer's timer for it.
	resendMsg   []byte
	resendTo    []*Peer
	resendTimer *time.Timer
	audioOut    []audioDest // peers with an open audio channel, gathered per packet; writer goroutine

	mu      sync.Mutex
	peers   map[*Peer]struct{}
	sockets map[*SocketViewer]struct{} // pages that get their media over the WebSocket (socketviewer.go)
	closed  bool

	socketOut     []*SocketViewer // gathered per send; writer goroutine
	socketVideoTS uint32          // the socket viewers' video clock, 90 kHz; writer goroutine

	// audioPrev holds the packets the audio data channel sent last, newest
	// first (sequence audioSeq − 1, − 2): the next message carries them
	// again, so a page that lost them decodes them from there. Writer goroutine.
	audioPrev []AudioPacket
}

// NewHub builds the hub: the pion engines (api.go), the shared tracks, and
// the encoders once the first frame comes.
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
	me, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	se := newSettingEngine(s)
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

// Connected is the number of viewers whose media flows: WebRTC peers whose
// connection is up, and WebSocket media viewers.
func (h *Hub) Connected() int { return int(h.connected.Load()) }

// OnViewers sets fn to hear the number of viewers each time it changes (the
// host pauses the game while nobody watches). fn runs on the goroutine that
// changed it and must not block.
func (h *Hub) OnViewers(fn func(n int)) { h.onViewers.Store(&fn) }

func (h *Hub) addViewers(d int32) {
	n := h.connected.Add(d)
	if fn := h.onViewers.Load(); fn != nil {
		(*fn)(int(n))
	}
}

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
