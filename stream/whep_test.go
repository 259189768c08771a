package stream

import (
	"errors"
	"strings"
	"testing"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

func TestOfferedKinds(t *testing.T) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	const video = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\n"
	const audio = "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n"
	for _, tc := range []struct {
		name         string
		sdp          string
		video, audio bool
		err          string // in the error; "" = accepted
	}{
		{"both recvonly", head + video + "a=recvonly\r\n" + audio + "a=recvonly\r\n", true, true, ""},
		{"no direction means sendrecv", head + video, true, false, ""},
		{"session-level recvonly", head + "a=recvonly\r\n" + audio, false, true, ""},
		{"bundle-only with port 0", head + video + "a=recvonly\r\n" + strings.Replace(audio, "m=audio 9", "m=audio 0", 1) + "a=bundle-only\r\na=recvonly\r\n", true, true, ""},
		{"rejected m-line", head + video + "a=recvonly\r\n" + strings.Replace(audio, "m=audio 9", "m=audio 0", 1), true, false, ""},
		{"sendonly only (WHIP, not WHEP)", head + video + "a=sendonly\r\n", false, false, "no video or audio"},
		{"H264 only", head + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\na=recvonly\r\n", false, false, "does not offer VP8"},
		{"empty", "  \r\n", false, false, "empty"},
		{"not SDP", "hello", false, false, "not SDP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kinds, err := offeredKinds(tc.sdp)
			if tc.err != "" {
				if err == nil || !errors.Is(err, ErrBadOffer) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want ErrBadOffer saying %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if kinds[webrtc.RTPCodecTypeVideo] != tc.video || kinds[webrtc.RTPCodecTypeAudio] != tc.audio {
				t.Fatalf("kinds %v, want video %v audio %v", kinds, tc.video, tc.audio)
			}
		})
	}
}

// FuzzOfferedKinds: a WHEP offer is untrusted bytes from anyone on the LAN;
// offeredKinds parses it (pion/sdp) before pion sees it. It never panics, and
// what it accepts asks for video and/or audio only.
func FuzzOfferedKinds(f *testing.F) {
	const head = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
	f.Add(head + "m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:96 VP8/90000\r\na=recvonly\r\n" +
		"m=audio 0 UDP/TLS/RTP/SAVPF 111\r\na=bundle-only\r\na=rtpmap:111 opus/48000/2\r\na=recvonly\r\n")
	f.Add(head + "a=recvonly\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n")
	f.Add(head + "m=video 9 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n")
	f.Add("")
	f.Add("v=0\r\nm=\r\n")
	f.Fuzz(func(t *testing.T, offer string) {
		kinds, err := offeredKinds(offer)
		if err != nil {
			if !errors.Is(err, ErrBadOffer) {
				t.Fatalf("error %v is not ErrBadOffer (the HTTP side would answer 500, not 400)", err)
			}
			return
		}
		if len(kinds) == 0 {
			t.Fatal("accepted an offer with nothing to receive")
		}
		for kind := range kinds {
			if kind != webrtc.RTPCodecTypeVideo && kind != webrtc.RTPCodecTypeAudio {
				t.Fatalf("accepted kind %v", kind)
			}
		}
	})
}

// FuzzAnswerPeer: the whole WHEP offer path, pion's SDP handling included,
// on a real hub. A bad offer is ErrBadOffer (400); nothing panics, and every
// peer made is closed again.
func FuzzAnswerPeer(f *testing.F) {
	h := newTestHub(f, Settings{})
	pc, err := clientAPI(f).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		f.Fatal(err)
	}
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		if _, err := pc.AddTransceiverFromKind(kind, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			f.Fatal(err)
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		f.Fatal(err)
	}
	pc.Close()
	f.Add(offer.SDP) // a real pion WHEP player's offer
	f.Add(strings.Replace(offer.SDP, "a=fingerprint:", "a=fingerprint:x", 1))
	f.Add(strings.Replace(offer.SDP, "a=ice-ufrag:", "a=ice-ufrag-", 1))
	f.Fuzz(func(t *testing.T, sdp string) {
		peer, _, err := h.AnswerPeer(sdp, PeerEvents{})
		if err != nil {
			return
		}
		peer.Close()
	})
}

// FuzzKeyframeRequest: RTCP from a viewer, as pion's interceptors parse it
// before readRTCP looks at it, never panics.
func FuzzKeyframeRequest(f *testing.F) {
	for _, pkt := range []rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: 1}, &rtcp.FullIntraRequest{FIR: []rtcp.FIREntry{{SSRC: 1}}}, &rtcp.ReceiverReport{SSRC: 2}} {
		data, err := pkt.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		packets, err := rtcp.Unmarshal(data)
		if err != nil {
			return
		}
		for _, pkt := range packets {
			isKeyframeRequest(pkt)
		}
	})
}
