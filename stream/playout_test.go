package stream

import (
	"testing"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
)

func TestPlayoutDelayStampsEveryPacketWithoutTouchingTheSharedHeader(t *testing.T) {
	ic, _ := playoutDelayFactory{}.NewInterceptor("")
	var written []*rtp.Header
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, _ []byte, _ interceptor.Attributes) (int, error) {
		c := h.Clone()
		written = append(written, &c)
		return 0, nil
	})
	w := ic.BindLocalStream(&interceptor.StreamInfo{RTPHeaderExtensions: []interceptor.RTPHeaderExtension{{URI: playoutDelayURI, ID: 5}}}, sink)
	shared := &rtp.Header{Version: 2, SequenceNumber: 7}
	for i := 0; i < 3; i++ {
		w.Write(shared, []byte{1}, nil)
	}
	if len(written) != 3 {
		t.Fatalf("wrote %d packets", len(written))
	}
	for _, h := range written {
		var pd rtp.PlayoutDelayExtension
		if err := pd.Unmarshal(h.GetExtension(5)); err != nil || pd.MinDelay != 0 || pd.MaxDelay != 0 {
			t.Fatalf("extension %v: %+v %v", h.GetExtension(5), pd, err)
		}
	}
	if shared.Extension || len(shared.Extensions) != 0 {
		t.Fatal("the shared header was modified")
	}
	// A stream that did not negotiate the extension is passed through untouched.
	plain := ic.BindLocalStream(&interceptor.StreamInfo{}, sink)
	written = nil
	plain.Write(&rtp.Header{Version: 2}, nil, nil)
	if written[0].Extension {
		t.Fatal("stamped a stream without the extension")
	}
}
