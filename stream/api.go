package stream

import (
	"couchplay/lan"
	"net"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/nack"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// The pion API each peer gets: the shared media and setting engines, and an
// interceptor chain of its own (congestion control, NACK, playout delay,
// tail copies).

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
	reg.Add(tailCopyFactory{lossy: func() bool { return p.rate.videoLossy(time.Now()) }})
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

// newMediaEngine lists couchplay's codecs (VP8, Opus 10 ms stereo with
// in-band FEC allowed), their RTCP feedback and header extensions; every
// peer shares it.
func newMediaEngine() (*webrtc.MediaEngine, error) {
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
	return me, nil
}

// newSettingEngine is the ICE set-up every peer shares: host candidates only
// (no mDNS), on the listen IP or the LAN interfaces, quick peer-reflexive
// acceptance, and timeouts that the watchdog builds on.
func newSettingEngine(s Settings) webrtc.SettingEngine {
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
	return se
}
