package stream

import (
	"context"
	"image"
	"io"
	"log/slog"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"couchplay/emu"
)

// newTestHub is a hub on loopback only, shut down when the test ends.
func newTestHub(tb testing.TB, s Settings) *Hub {
	tb.Helper()
	s.ListenIP = net.IPv4(127, 0, 0, 1)
	if s.Logger == nil {
		s.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h, err := NewHub(s)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(h.Shutdown)
	return h
}

// clientAPI is a pion "browser" on loopback.
func clientAPI(tb testing.TB) *webrtc.API {
	tb.Helper()
	se := webrtc.SettingEngine{}
	se.SetIncludeLoopbackCandidate(true)
	se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetICEMulticastDNSMode(0)
	me := &webrtc.MediaEngine{}
	if err := me.RegisterDefaultCodecs(); err != nil {
		tb.Fatal(err)
	}
	return webrtc.NewAPI(webrtc.WithSettingEngine(se), webrtc.WithMediaEngine(me))
}

// viewer is a real pion peer that answers the hub's offer and reads its media.
type viewer struct {
	pc            *webrtc.PeerConnection
	peer          *Peer
	videoPackets  atomic.Int64
	audioPackets  atomic.Int64
	videoFrames   atomic.Int64 // RTP packets with the marker bit: one per frame
	connected     chan struct{}
	closed        chan struct{} // the hub said Closed
	failed        chan string
	lastTimestamp atomic.Uint32
	videoSSRC     atomic.Uint32
	firstKey      atomic.Int32 // 1: the first video frame was a keyframe, 2: it was not
	keyframes     atomic.Int64
	channels      chan string // labels of the data channels the hub opened
	audioMsgs     chan []byte // messages on the audio channel
}

func dialViewer(tb testing.TB, h *Hub) *viewer {
	tb.Helper()
	return dialViewerWith(tb, h, PeerOptions{})
}

func dialViewerWith(tb testing.TB, h *Hub, opt PeerOptions) *viewer {
	tb.Helper()
	v := &viewer{connected: make(chan struct{}), closed: make(chan struct{}), failed: make(chan string, 4),
		channels: make(chan string, 4), audioMsgs: make(chan []byte, 1024)}
	peer, offer, err := h.NewPeerWith(opt, PeerEvents{
		Failed: func(reason string) { v.failed <- reason },
		Closed: func() { close(v.closed) },
	})
	if err != nil {
		tb.Fatal(err)
	}
	v.peer = peer
	pc, err := clientAPI(tb).NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		tb.Fatal(err)
	}
	v.pc = pc
	tb.Cleanup(func() { pc.Close() })
	var up atomic.Bool
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		if s == webrtc.PeerConnectionStateConnected && up.CompareAndSwap(false, true) {
			close(v.connected)
		}
	})
	pc.OnDataChannel(func(dc *webrtc.DataChannel) {
		v.channels <- dc.Label()
		if dc.Label() == AudioLabel {
			dc.OnMessage(func(msg webrtc.DataChannelMessage) {
				select {
				case v.audioMsgs <- msg.Data:
				default: // the test read enough
				}
			})
		}
	})
	pc.OnTrack(func(tr *webrtc.TrackRemote, _ *webrtc.RTPReceiver) {
		for {
			pkt, _, err := tr.ReadRTP()
			if err != nil {
				return
			}
			if tr.Kind() == webrtc.RTPCodecTypeVideo {
				v.videoSSRC.Store(uint32(tr.SSRC()))
				if start, key := vp8Keyframe(pkt); start {
					first := int32(2)
					if key {
						first = 1
						v.keyframes.Add(1)
					}
					v.firstKey.CompareAndSwap(0, first)
				}
				v.videoPackets.Add(1)
				if pkt.Marker {
					v.videoFrames.Add(1)
					v.lastTimestamp.Store(pkt.Timestamp)
				}
			} else {
				v.audioPackets.Add(1)
			}
		}
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		tb.Fatal(err)
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		tb.Fatal(err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		tb.Fatal(err)
	}
	<-gathered
	if err := peer.SetAnswer(pc.LocalDescription().SDP); err != nil {
		tb.Fatal(err)
	}
	return v
}

func (v *viewer) waitConnected(tb testing.TB) {
	tb.Helper()
	select {
	case <-v.connected:
	case <-time.After(30 * time.Second):
		tb.Fatal("viewer never connected")
	}
}

// waitHubConnected waits until the hub counts n connected peers.
func waitHubConnected(tb testing.TB, h *Hub, n int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for h.Connected() != n {
		select {
		case <-ctx.Done():
			tb.Fatalf("hub has %d connected peers, want %d", h.Connected(), n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// BenchmarkWriteFrame16Viewers times the frame loop's sink, Hub.WriteFrame,
// with 16 real pion viewers on loopback, at the loop's real pace (one frame
// per 1/60.0988 s, 256x240 video and its 48 kHz stereo sound): ns/op is the
// time the emulator goroutine spends in WriteFrame per frame; p50/p99/max
// are its jitter, and delivered is the share of frames each viewer got.
//
//	go test -run '^$' -bench WriteFrame16Viewers -benchtime 600x ./stream/
func BenchmarkWriteFrame16Viewers(b *testing.B) {
	const viewers = 16
	h := newTestHub(b, Settings{})
	vs := make([]*viewer, viewers)
	for i := range vs {
		vs[i] = dialViewer(b, h)
	}
	for _, v := range vs {
		v.waitConnected(b)
	}
	waitHubConnected(b, h, viewers)

	const fps = 60.0988
	info := emu.Info{Width: testWidth, Height: testHeight, FPS: fps, SampleRate: opusSampleRate}
	frames := make([]*image.RGBA, 16)
	for i := range frames {
		frames[i] = image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
		pattern(frames[i], i)
	}
	audio := make([]int16, 2*800)
	for i := range audio {
		audio[i] = int16((i * 440) % 16000)
	}
	// Warm up: first keyframe, encoder start.
	for i := 0; i < 10; i++ {
		h.WriteFrame(frames[i%len(frames)], audio, info)
	}
	time.Sleep(200 * time.Millisecond)
	start := make([]int64, viewers)
	for i, v := range vs {
		start[i] = v.videoFrames.Load()
	}

	fpsv := fps
	period := time.Duration(float64(time.Second) / fpsv)
	took := make([]time.Duration, 0, b.N)
	next := time.Now()
	b.ResetTimer()
	var busy time.Duration
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		h.WriteFrame(frames[i%len(frames)], audio, info)
		d := time.Since(t0)
		busy += d
		took = append(took, d)
		next = next.Add(period)
		if wait := time.Until(next); wait > 0 {
			time.Sleep(wait)
		} else {
			next = time.Now()
		}
	}
	b.StopTimer()
	time.Sleep(300 * time.Millisecond) // let the last frames arrive
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	q := func(p float64) float64 { return float64(took[int(p*float64(len(took)-1))].Microseconds()) }
	var got int64
	for i, v := range vs {
		got += v.videoFrames.Load() - start[i]
	}
	b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N), "ns/op")
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(1), "max-µs")
	b.ReportMetric(float64(got)/float64(viewers*b.N), "delivered")
}

// A controller-mode phone's peer (PeerOptions.NoVideo) is offered sound and the input
// channel but no video to decode; NewPeer's offer has all three.
func TestAudioPeerOffersNoVideo(t *testing.T) {
	h := newTestHub(t, Settings{})
	for _, tc := range []struct {
		name  string
		dial  func(PeerEvents) (*Peer, string, error)
		video bool
	}{
		{"NewPeer", h.NewPeer, true},
		{"NoVideo", func(ev PeerEvents) (*Peer, string, error) { return h.NewPeerWith(PeerOptions{NoVideo: true}, ev) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			peer, offer, err := tc.dial(PeerEvents{})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			if got := strings.Contains(offer, "\nm=video "); got != tc.video {
				t.Errorf("m=video in the offer: %v, want %v\n%s", got, tc.video, offer)
			}
			for _, line := range []string{"\nm=audio ", "\nm=application "} {
				if !strings.Contains(offer, line) {
					t.Errorf("the offer has no %q line:\n%s", strings.TrimSpace(line), offer)
				}
			}
		})
	}
}
