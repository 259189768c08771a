package stream

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

// answerGatherWait bounds how long an answer waits for its host candidates.
// A WHEP answer is the only chance to send them (this host does not take
// trickle PATCHes), so it waits longer than NewPeer, whose stragglers trickle.
// Host candidates without STUN complete in milliseconds anyway.
const answerGatherWait = 2 * time.Second

// ErrBadOffer wraps every reason a client's offer cannot be answered; the
// HTTP side answers it with 400 and the text.
var ErrBadOffer = errors.New("unusable SDP offer")

// AnswerPeer answers a client's offer (a WHEP player: recvonly video and/or
// audio) with the shared VP8 and Opus tracks, sendonly, and no data channel.
// The answer carries the host's candidates. The peer is counted, closed by
// Shutdown, asks for a keyframe on PLI/FIR and ends itself when it fails or
// times out (Settings.ConnectTimeout, DisconnectedTimeout) like NewPeer's.
// ev.Closed is the one place to free what the owner holds for the peer;
// ev.Input is never called.
func (h *Hub) AnswerPeer(offerSDP string, ev PeerEvents) (*Peer, string, error) {
	kinds, err := offeredKinds(offerSDP)
	if err != nil {
		return nil, "", err
	}
	p, err := h.newPeer(ev)
	if err != nil {
		return nil, "", err
	}
	pc := p.pc
	fail := func(err error) (*Peer, string, error) {
		p.Close()
		return nil, "", err
	}
	if err := p.addSendTracks(func(kind webrtc.RTPCodecType) bool { return kinds[kind] }); err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offerSDP}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: cannot answer it: %v", ErrBadOffer, err))
	}
	// No trickle in WHEP: the answer must carry the candidates.
	if err := p.setLocalAndGather(answer, answerGatherWait); err != nil {
		return fail(err)
	}
	// Registered only if the hub is still open, so Shutdown cannot miss it.
	if err := h.register(p); err != nil {
		return fail(err)
	}
	p.watch.arm() // a player that never does ICE ends after ConnectTimeout
	return p, pc.LocalDescription().SDP, nil
}

// offeredKinds checks that an offer asks to receive video and/or audio in
// codecs this host sends, and says which.
func offeredKinds(offerSDP string) (map[webrtc.RTPCodecType]bool, error) {
	if strings.TrimSpace(offerSDP) == "" {
		return nil, fmt.Errorf("%w: the body is empty; send an SDP offer", ErrBadOffer)
	}
	var desc sdp.SessionDescription
	if err := desc.UnmarshalString(offerSDP); err != nil {
		return nil, fmt.Errorf("%w: it is not SDP: %v", ErrBadOffer, err)
	}
	sessionDirection := direction(desc.Attributes, "sendrecv")
	kinds := map[webrtc.RTPCodecType]bool{}
	for _, m := range desc.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(m.MediaName.Media)
		if kind != webrtc.RTPCodecTypeVideo && kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		if _, bundleOnly := m.Attribute("bundle-only"); m.MediaName.Port.Value == 0 && !bundleOnly {
			continue // a rejected m-line
		}
		if dir := direction(m.Attributes, sessionDirection); dir != "recvonly" && dir != "sendrecv" {
			continue // the client does not want to receive on it
		}
		want := map[webrtc.RTPCodecType]string{webrtc.RTPCodecTypeVideo: "VP8", webrtc.RTPCodecTypeAudio: "opus"}[kind]
		if !offersCodec(m, want) {
			return nil, fmt.Errorf("%w: its %s m-line does not offer %s, the only %s codec this host sends", ErrBadOffer, kind, want, kind)
		}
		kinds[kind] = true
	}
	if len(kinds) == 0 {
		return nil, fmt.Errorf("%w: it has no video or audio m-line to receive on (a WHEP offer has recvonly video and/or audio)", ErrBadOffer)
	}
	return kinds, nil
}

// direction is the direction attribute among attrs, or fallback.
func direction(attrs []sdp.Attribute, fallback string) string {
	for _, a := range attrs {
		switch a.Key {
		case "sendrecv", "sendonly", "recvonly", "inactive":
			return a.Key
		}
	}
	return fallback
}

// offersCodec reports whether an m-line has an rtpmap for codec (case-insensitive).
func offersCodec(m *sdp.MediaDescription, codec string) bool {
	for _, a := range m.Attributes {
		if a.Key != "rtpmap" {
			continue
		}
		// "96 VP8/90000"
		_, encoding, ok := strings.Cut(a.Value, " ")
		name, _, _ := strings.Cut(strings.TrimSpace(encoding), "/")
		if ok && strings.EqualFold(name, codec) {
			return true
		}
	}
	return false
}
