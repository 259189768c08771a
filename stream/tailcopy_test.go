package stream

import (
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

type sentPacket struct {
	seq    uint16
	marker bool
	body   string
	at     time.Duration
}

// recordSent is a writer that records what it is given, and when (since it
// was made); sent() returns the record so far.
func recordSent() (interceptor.RTPWriter, func() []sentPacket) {
	var mu sync.Mutex
	var record []sentPacket
	t0 := time.Now()
	sink := interceptor.RTPWriterFunc(func(h *rtp.Header, body []byte, _ interceptor.Attributes) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		record = append(record, sentPacket{h.SequenceNumber, h.Marker, string(body), time.Since(t0)})
		return len(body), nil
	})
	return sink, func() []sentPacket {
		mu.Lock()
		defer mu.Unlock()
		return append([]sentPacket(nil), record...)
	}
}

func TestTailCopyResendsEachFramesLastVideoPacketOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink, record := recordSent()
		ic, _ := tailCopyFactory{}.NewInterceptor("")
		video := ic.BindLocalStream(&interceptor.StreamInfo{MimeType: webrtc.MimeTypeVP8}, sink)
		audio := ic.BindLocalStream(&interceptor.StreamInfo{MimeType: webrtc.MimeTypeOpus}, sink)

		body := []byte("first")
		h := &rtp.Header{SequenceNumber: 1}
		video.Write(h, body, nil)
		h.SequenceNumber, h.Marker = 2, true
		copy(body, "last!")
		video.Write(h, body, nil)
		copy(body, "reuse") // the caller reuses its buffers at once
		h.SequenceNumber = 99
		audio.Write(&rtp.Header{SequenceNumber: 7, Marker: true}, []byte("opus"), nil)
		time.Sleep(time.Second)
		synctest.Wait()

		sent := record()
		want := []sentPacket{{1, false, "first", 0}, {2, true, "last!", 0}, {7, true, "opus", 0}, {2, true, "last!", tailCopyDelay}}
		if len(sent) != len(want) {
			t.Fatalf("sent %+v, want %+v", sent, want)
		}
		for i := range want {
			if sent[i] != want[i] {
				t.Fatalf("packet %d: %+v, want %+v (all: %+v)", i, sent[i], want[i], sent)
			}
		}
	})
}

// A lossy peer's frames get a second copy of their last packet
// tailCopyLateDelay after the first, past a burst that took both; a clean
// peer's do not.
func TestTailCopySendsALateSecondCopyOnALossyLink(t *testing.T) {
	for _, lossy := range []bool{false, true} {
		synctest.Test(t, func(t *testing.T) {
			sink, record := recordSent()
			ic, _ := tailCopyFactory{lossy: func() bool { return lossy }}.NewInterceptor("")
			video := ic.BindLocalStream(&interceptor.StreamInfo{MimeType: webrtc.MimeTypeVP8}, sink)
			video.Write(&rtp.Header{SequenceNumber: 5, Marker: true}, []byte("frame"), nil)
			time.Sleep(time.Second)
			synctest.Wait()
			sent := record()
			want := []sentPacket{{5, true, "frame", 0}, {5, true, "frame", tailCopyDelay}}
			if lossy {
				want = append(want, sentPacket{5, true, "frame", tailCopyLateDelay})
			}
			if len(sent) != len(want) {
				t.Fatalf("lossy %v: sent %+v, want %+v", lossy, sent, want)
			}
			for i := range want {
				if sent[i] != want[i] {
					t.Fatalf("lossy %v: packet %d %+v, want %+v", lossy, i, sent[i], want[i])
				}
			}
		})
	}
}
