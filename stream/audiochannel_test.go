package stream

import (
	"bytes"
	"image"
	"strings"
	"testing"
	"time"

	"couchplay/emu"
)

func TestAudioMessageFraming(t *testing.T) {
	opus := []byte{0xfc, 0xff, 0xfe}
	msg := AppendAudioMessage(nil, AudioMessage{Seq: 0xbeef, Timestamp: 0x01020304, Opus: opus})
	want := []byte{MsgAudio, 0xef, 0xbe, 0x04, 0x03, 0x02, 0x01, 0xfc, 0xff, 0xfe}
	if !bytes.Equal(msg, want) {
		t.Fatalf("framed % x, want % x", msg, want)
	}
	got, err := DecodeAudioMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 0xbeef || got.Timestamp != 0x01020304 || !bytes.Equal(got.Opus, opus) {
		t.Fatalf("decoded %+v", got)
	}
	for name, bad := range map[string][]byte{
		"empty":       nil,
		"header only": msg[:AudioHeaderSize],
		"input type":  append([]byte{MsgInput}, msg[1:]...),
	} {
		if _, err := DecodeAudioMessage(bad); err == nil {
			t.Errorf("%s: decoded % x without an error", name, bad)
		}
	}
}

// A page that asks for the audio channel gets it, carrying the same 10 ms
// Opus packets as the RTP track, numbered and timed; one that does not ask
// gets the input channel only. Both keep the RTP audio track.
func TestAudioChannelOnlyWhenAsked(t *testing.T) {
	h := newTestHub(t, Settings{})
	plain := dialViewerWith(t, h, PeerOptions{})
	fast := dialViewerWith(t, h, PeerOptions{AudioChannel: true})
	plain.waitConnected(t)
	fast.waitConnected(t)
	waitHubConnected(t, h, 2)

	labels := func(v *viewer, n int) []string {
		var got []string
		for len(got) < n {
			select {
			case l := <-v.channels:
				got = append(got, l)
			case <-time.After(10 * time.Second):
				t.Fatalf("only data channels %v opened", got)
			}
		}
		return got
	}
	if got := strings.Join(labels(fast, 2), ","); got != InputLabel+","+AudioLabel && got != AudioLabel+","+InputLabel {
		t.Errorf("the asking peer has data channels %s", got)
	}
	labels(plain, 1)

	info := emu.Info{Width: testWidth, Height: testHeight, FPS: 60, SampleRate: opusSampleRate}
	frame := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	audio := make([]int16, 2*800) // one frame of sound at 60 fps: 16.7 ms
	var first AudioMessage
	var msgs []AudioMessage
	deadline := time.After(10 * time.Second)
	for len(msgs) < 5 {
		h.WriteFrame(frame, audio, info)
		select {
		case raw := <-fast.audioMsgs:
			m, err := DecodeAudioMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if len(msgs) == 0 {
				first = m
			}
			msgs = append(msgs, m)
		case <-time.After(17 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d audio messages in 10 s", len(msgs))
		}
	}
	// The channel may drop packets (no retransmits) but loopback does not:
	// consecutive numbers, 480 samples (10 ms) apart.
	for i, m := range msgs {
		if m.Seq != first.Seq+uint16(i) || m.Timestamp != first.Timestamp+uint32(i*opusFrameSize) {
			t.Errorf("message %d: seq %d ts %d after seq %d ts %d", i, m.Seq, m.Timestamp, first.Seq, first.Timestamp)
		}
	}
	if fast.audioPackets.Load() == 0 || plain.audioPackets.Load() == 0 {
		t.Errorf("RTP audio packets: asking peer %d, plain peer %d; both keep the track", fast.audioPackets.Load(), plain.audioPackets.Load())
	}
	select {
	case l := <-plain.channels:
		t.Errorf("the peer that did not ask has a %q channel", l)
	default:
	}
}
