package stream

import (
	"strings"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// tailCopyDelay is how long after a frame's last video packet its copy goes.
//
// A receiver finds a lost packet only when a later one arrives. A loss inside
// a frame shows at once (the rest of the frame follows) and its NACK is
// answered a round trip later; a lost last packet of a frame shows only with
// the next frame, 16.7 ms on, and most of a static game's frames (and the
// test card's) are one packet long. So every frame's last packet (RTP marker)
// goes again tailCopyDelay later with the same sequence number: if the first
// is lost the copy completes the frame a few ms late, and if not the receiver
// drops it as a duplicate (SRTP replay check). It costs one packet per frame,
// 60 a second; that pays where a NACK costs a frame time plus a round trip.
const tailCopyDelay = 3 * time.Millisecond

// tailCopyLateDelay: a peer whose link loses video (lossy) gets a second copy
// this much later. Wi-Fi loses packets in bursts, and a burst that took the
// packet took its copy 3 ms later too; 20 ms on, past most bursts, and still
// sooner than a NACK's round trip after the next frame shows the loss.
// Through the bench's relay at 10 % loss in bursts of 5, 10 ± 10 ms, the
// picture froze (over 200 ms) 7-10 times in 45 s without it, 1-2 with it.
const tailCopyLateDelay = 20 * time.Millisecond

// tailCopyFactory builds the interceptor that sends those copies. lossy (nil:
// never) says whether the peer's link loses video now.
type tailCopyFactory struct{ lossy func() bool }

func (f tailCopyFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &tailCopyInterceptor{lossy: f.lossy}, nil
}

type tailCopyInterceptor struct {
	interceptor.NoOp
	lossy func() bool
}

func (t *tailCopyInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !strings.EqualFold(info.MimeType, webrtc.MimeTypeVP8) {
		return writer
	}
	return interceptor.RTPWriterFunc(func(header *rtp.Header, body []byte, attrs interceptor.Attributes) (int, error) {
		n, err := writer.Write(header, body, attrs)
		if err == nil && header.Marker {
			// The caller reuses header and body: the copy gets its own.
			h, b := header.Clone(), append([]byte(nil), body...)
			time.AfterFunc(tailCopyDelay, func() {
				_, _ = writer.Write(&h, b, nil) // a closed peer's copy is simply not sent
			})
			if t.lossy != nil && t.lossy() {
				late := header.Clone() // the writer below may change the first copy's header
				time.AfterFunc(tailCopyLateDelay, func() {
					_, _ = writer.Write(&late, b, nil)
				})
			}
		}
		return n, err
	})
}
