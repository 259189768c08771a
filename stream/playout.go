package stream

import (
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

// playoutDelayURI is the RTP header extension that tells the receiver how long
// it may buffer video before showing it. Chrome honours min = max = 0 by
// rendering each frame as soon as it is decoded: measured here it is the one big
// video latency lever (key -> changed frame 43 ms without, 11-23 ms with).
const playoutDelayURI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"

// playoutDelayFactory builds the interceptor that stamps playout-delay 0/0 on
// every outgoing packet of a stream that negotiated the extension.
type playoutDelayFactory struct{}

func (playoutDelayFactory) NewInterceptor(string) (interceptor.Interceptor, error) {
	return &playoutDelayInterceptor{}, nil
}

type playoutDelayInterceptor struct{ interceptor.NoOp }

func (*playoutDelayInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	id := 0
	for _, ext := range info.RTPHeaderExtensions {
		if ext.URI == playoutDelayURI {
			id = ext.ID
		}
	}
	if id == 0 {
		return writer
	}
	payload, err := rtp.PlayoutDelayExtension{MinDelay: 0, MaxDelay: 0}.Marshal()
	if err != nil {
		return writer
	}
	return interceptor.RTPWriterFunc(func(header *rtp.Header, body []byte, attrs interceptor.Attributes) (int, error) {
		// The header is shared by every peer of the fan-out track, so stamp a
		// copy: another peer may not have negotiated the extension.
		stamped := *header
		stamped.Extensions = append(make([]rtp.Extension, 0, len(header.Extensions)+1), header.Extensions...)
		if err := stamped.SetExtension(uint8(id), payload); err != nil {
			return writer.Write(header, body, attrs)
		}
		return writer.Write(&stamped, body, attrs)
	})
}
