package stream

import (
	"image"
	"image/color"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"
	"github.com/pion/webrtc/v4/pkg/media"

	"couchplay/emu"
)

// fakeBinding binds a real pion TrackLocalStaticSample without a network and
// keeps the RTP timestamps it writes.
type fakeBinding struct {
	codec      webrtc.RTPCodecParameters
	timestamps []uint32
}

func (f *fakeBinding) CodecParameters() []webrtc.RTPCodecParameters {
	return []webrtc.RTPCodecParameters{f.codec}
}
func (f *fakeBinding) HeaderExtensions() []webrtc.RTPHeaderExtensionParameter { return nil }
func (f *fakeBinding) SSRC() webrtc.SSRC                                      { return 1 }
func (f *fakeBinding) SSRCRetransmission() webrtc.SSRC                        { return 0 }
func (f *fakeBinding) SSRCForwardErrorCorrection() webrtc.SSRC                { return 0 }
func (f *fakeBinding) WriteStream() webrtc.TrackLocalWriter                   { return f }
func (f *fakeBinding) ID() string                                             { return "fake" }
func (f *fakeBinding) RTCPReader() interceptor.RTCPReader                     { return nil }
func (f *fakeBinding) Write(b []byte) (int, error)                            { return len(b), nil }
func (f *fakeBinding) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	f.timestamps = append(f.timestamps, h.Timestamp)
	return len(payload), nil
}

// TestVideoRTPClock: the RTP timestamps pion writes for an hour of frames at
// NES's 60.0988 fps (and other core rates) stay within one 90 kHz tick of the
// exact time, also when the writer coalesces frames it fell behind on.
func TestVideoRTPClock(t *testing.T) {
	for _, tc := range []struct {
		fps      float64
		coalesce int
	}{{60.0988, 1}, {60.0988, 3}, {59.7275, 1}, {50.007, 2}} {
		fps, coalesce := tc.fps, tc.coalesce
		{
			track, err := webrtc.NewTrackLocalStaticSample(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8}, "video", "test")
			if err != nil {
				t.Fatal(err)
			}
			fb := &fakeBinding{codec: webrtc.RTPCodecParameters{RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, PayloadType: 96}}
			if _, err := track.Bind(fb); err != nil {
				t.Fatal(err)
			}
			var clock frameClock
			frames := int(fps * 3600)
			frames -= frames % coalesce
			var d time.Duration
			for n := 1; n <= frames; n++ {
				d += clock.next(fps)
				if n%coalesce != 0 {
					continue // the writer skipped this frame; its time goes to the next
				}
				if err := track.WriteSample(media.Sample{Data: []byte{0x10, 0, 0}, Duration: d}); err != nil {
					t.Fatal(err)
				}
				d = 0
			}
			ts := fb.timestamps
			// Each sample's timestamp is where it starts; the last one starts
			// at the end of all frames but its own.
			got := float64(ts[len(ts)-1] - ts[0])
			want := float64(frames-coalesce) * 90000 / fps
			if math.Abs(got-want) > 1 {
				t.Errorf("%.4f fps, coalescing %d: %d frames took %.0f ticks, exact %.1f (off by %.1f)", fps, coalesce, frames, got, want, got-want)
			}
		}
	}
}

// The loop's frames are copied: the loop may reuse its buffer at once. When
// the writer falls behind it gets the newest frame, the time of all, and all
// the sound in order.
func TestEnqueueKeepsNewestFrameAndAllSound(t *testing.T) {
	h := newTestHub(t, Settings{})
	noWriter(h) // this test takes the work itself
	info := emu.Info{FPS: 60.0988, SampleRate: opusSampleRate}
	frame := image.NewRGBA(image.Rect(0, 0, 8, 8))
	colours := []color.RGBA{{255, 0, 0, 255}, {0, 255, 0, 255}, {0, 0, 255, 255}}
	var want time.Duration
	var clock frameClock
	for i, c := range colours {
		for p := 0; p < len(frame.Pix); p += 4 {
			frame.Pix[p], frame.Pix[p+1], frame.Pix[p+2], frame.Pix[p+3] = c.R, c.G, c.B, c.A
		}
		h.enqueue(frame, []int16{int16(2 * i), int16(2*i + 1)}, info)
		want += clock.next(info.FPS)
	}
	frame.Pix[0] = 7 // the loop reuses its buffer
	p, _ := h.take(nil, nil)
	if !p.hasFrame || p.frame.RGBAAt(0, 0) != colours[2] {
		t.Fatalf("took frame %v (hasFrame %v), want the newest, %v", p.frame.RGBAAt(0, 0), p.hasFrame, colours[2])
	}
	if p.duration != want {
		t.Fatalf("duration %v, want the three frames' %v", p.duration, want)
	}
	if got := p.audio; len(got) != 6 || got[0] != 0 || got[5] != 5 {
		t.Fatalf("audio %v, want all three frames' sound in order", got)
	}
	if q, _ := h.take(nil, nil); q.hasFrame || len(q.audio) != 0 {
		t.Fatal("a second take found work again")
	}
}

// A stalled writer holds at most maxPendingAudio of sound, the newest.
func TestEnqueueBoundsSound(t *testing.T) {
	h := newTestHub(t, Settings{})
	noWriter(h)
	frame := image.NewRGBA(image.Rect(0, 0, 2, 2))
	chunk := make([]int16, 1600)
	for i := 0; i < 1000; i++ {
		chunk[0] = int16(i)
		h.enqueue(frame, chunk, emu.Info{FPS: 60, SampleRate: opusSampleRate})
	}
	p, _ := h.take(nil, nil)
	if len(p.audio) != maxPendingAudio || len(p.audio)%opusChannels != 0 {
		t.Fatalf("%d samples pending, want %d", len(p.audio), maxPendingAudio)
	}
	if p.audio[len(p.audio)-1600] != 999 {
		t.Fatal("the newest sound was not kept")
	}
}

// noWriter keeps enqueue from starting a writer: a stand-in counts as running.
func noWriter(h *Hub) {
	done := make(chan struct{})
	close(done)
	h.wcur = &writerRun{stop: make(chan struct{}), done: done}
	h.wlast = h.wcur
}

// With no viewer left the writer ends (an idle host runs no goroutine of
// it), and the next viewer gets a new one.
func TestWriterEndsWhenNobodyWatches(t *testing.T) {
	h := newTestHub(t, Settings{})
	frame := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	info := emu.Info{FPS: 60, SampleRate: opusSampleRate}
	for round := 0; round < 2; round++ {
		v := dialViewer(t, h)
		v.waitConnected(t)
		waitHubConnected(t, h, 1)
		for n := 0; v.videoFrames.Load() == 0; n++ {
			if n > 10000 {
				t.Fatal("no frame arrived")
			}
			h.WriteFrame(frame, make([]int16, 1600), info)
			time.Sleep(time.Millisecond)
		}
		h.wmu.Lock()
		w := h.wcur
		h.wmu.Unlock()
		if w == nil {
			t.Fatal("no writer while a viewer watches")
		}
		v.pc.Close()
		waitHubConnected(t, h, 0)
		h.WriteFrame(frame, nil, info) // nobody watches
		select {
		case <-w.done:
		case <-time.After(generous):
			t.Fatal("the writer did not end with nobody watching")
		}
	}
}

// vp8Keyframe reports whether an RTP packet starts a VP8 keyframe.
func vp8Keyframe(pkt *rtp.Packet) (start, key bool) {
	var vp8 codecs.VP8Packet
	payload, err := vp8.Unmarshal(pkt.Payload)
	if err != nil || vp8.S != 1 || vp8.PID != 0 || len(payload) == 0 {
		return false, false
	}
	return true, payload[0]&1 == 0
}

// A real viewer gets the stream through the writer: a keyframe first (the
// join), sound, and a keyframe again when it reports picture loss.
func TestWriterStreamsToViewer(t *testing.T) {
	h := newTestHub(t, Settings{})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	info := emu.Info{FPS: 60, SampleRate: opusSampleRate}
	frame := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	sound := make([]int16, 1600)
	deadline := time.Now().Add(generous)
	for n := 0; v.videoFrames.Load() < 30 || v.audioPackets.Load() < 10; n++ {
		if time.Now().After(deadline) {
			t.Fatalf("after %d frames the viewer got %d video frames, %d audio packets", n, v.videoFrames.Load(), v.audioPackets.Load())
		}
		pattern(frame, n)
		h.WriteFrame(frame, sound, info)
		time.Sleep(time.Millisecond)
	}
	if v.firstKey.Load() != 1 {
		t.Fatal("the viewer's first video frame was not a keyframe")
	}
	// Picture loss: another keyframe comes (the throttle delays it, never drops it).
	before := v.keyframes.Load()
	if err := v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: v.videoSSRC.Load()}}); err != nil {
		t.Fatal(err)
	}
	for n := 0; v.keyframes.Load() == before; n++ {
		if time.Now().After(deadline) {
			t.Fatal("no keyframe after a PLI")
		}
		pattern(frame, n)
		h.WriteFrame(frame, sound, info)
		time.Sleep(2 * time.Millisecond)
	}
}

// Shutdown stops the writer and every goroutine of the hub and its peers.
func TestShutdownStopsWriter(t *testing.T) {
	base := runtime.NumGoroutine()
	h := newTestHub(t, Settings{})
	v := dialViewer(t, h)
	v.waitConnected(t)
	waitHubConnected(t, h, 1)
	frame := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	for n := 0; v.videoFrames.Load() == 0; n++ {
		if n > 10000 {
			t.Fatal("no frame arrived")
		}
		h.WriteFrame(frame, make([]int16, 1600), emu.Info{FPS: 60, SampleRate: opusSampleRate})
		time.Sleep(time.Millisecond)
	}
	last := h.wlast
	h.Shutdown()
	select {
	case <-last.done:
	default:
		t.Fatal("Shutdown returned with the writer still running")
	}
	h.WriteFrame(frame, nil, emu.Info{FPS: 60}) // after Shutdown: dropped, no new writer
	v.pc.Close()
	deadline := time.Now().Add(generous)
	for runtime.NumGoroutine() > base {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, %d before the hub:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
