package stream

import (
	"errors"
	"strings"
	"testing"

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
