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
		"input type":  append([]byte{emu.MsgInput}, msg[1:]...),
	} {
		if _, err := DecodeAudioMessage(bad); err == nil {
			t.Errorf("%s: decoded % x without an error", name, bad)
		}
	}
}

// The redundant form carries the previous packet after the primary one; both
// decode back, and the old form decodes with no previous packet.
func TestRedundantAudioMessageFraming(t *testing.T) {
	opus := []byte{0xfc, 0xff, 0xfe}
	prev := []byte{0xfc, 0x01}
	msg := AppendRedundantAudioMessage(nil, AudioMessage{Seq: 0xbeef, Timestamp: 0x01020304, Opus: opus, Previous: prev})
	want := []byte{MsgAudioRedundant, 0xef, 0xbe, 0x04, 0x03, 0x02, 0x01, 0x03, 0x00, 0xfc, 0xff, 0xfe, 0xfc, 0x01}
	if !bytes.Equal(msg, want) {
		t.Fatalf("framed % x, want % x", msg, want)
	}
	got, err := DecodeAudioMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != 0xbeef || got.Timestamp != 0x01020304 || !bytes.Equal(got.Opus, opus) || !bytes.Equal(got.Previous, prev) {
		t.Fatalf("decoded %+v", got)
	}
	// No previous packet (the sender uses MsgAudio then, but an empty one is harmless).
	got, err = DecodeAudioMessage(AppendRedundantAudioMessage(nil, AudioMessage{Seq: 1, Opus: opus}))
	if err != nil || !bytes.Equal(got.Opus, opus) || got.Previous != nil {
		t.Fatalf("without a previous packet: %+v, %v", got, err)
	}
	got, err = DecodeAudioMessage(AppendAudioMessage(nil, AudioMessage{Seq: 1, Opus: opus}))
	if err != nil || got.Previous != nil {
		t.Fatalf("the one-packet form: %+v, %v", got, err)
	}
}

func TestRedundantAudioMessageBadLengths(t *testing.T) {
	good := AppendRedundantAudioMessage(nil, AudioMessage{Seq: 7, Timestamp: 480, Opus: []byte{1, 2, 3}, Previous: []byte{4, 5}})
	withLength := func(n uint16) []byte {
		m := bytes.Clone(good)
		m[AudioHeaderSize], m[AudioHeaderSize+1] = byte(n), byte(n>>8)
		return m
	}
	for name, bad := range map[string][]byte{
		"type only":                   {MsgAudioRedundant},
		"no primary length":           good[:AudioHeaderSize+1],
		"header only":                 good[:AudioRedundantHeaderSize],
		"primary length 0":            withLength(0),
		"primary longer than message": withLength(6),
		"primary length 0xffff":       withLength(0xffff),
		"cut inside the primary":      good[:AudioRedundantHeaderSize+2],
	} {
		if m, err := DecodeAudioMessage(bad); err == nil {
			t.Errorf("%s: decoded % x as %+v without an error", name, bad, m)
		}
	}
	// The primary running to the end of the message is fine: no previous packet.
	if m, err := DecodeAudioMessage(withLength(5)); err != nil || len(m.Opus) != 5 || m.Previous != nil {
		t.Errorf("primary to the end: %+v, %v", m, err)
	}
}

// FuzzDecodeAudioMessage: any bytes decode without a panic, and what decodes
// frames back to the same bytes with the append function of its type.
func FuzzDecodeAudioMessage(f *testing.F) {
	f.Add(AppendAudioMessage(nil, AudioMessage{Seq: 1, Timestamp: 2, Opus: []byte{0xfc}}))
	f.Add(AppendRedundantAudioMessage(nil, AudioMessage{Seq: 0xffff, Timestamp: 0xffffffff, Opus: []byte{0xfc, 0xff}, Previous: []byte{0xfc}}))
	f.Add([]byte{MsgAudioRedundant, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := DecodeAudioMessage(msg)
		if err != nil {
			return
		}
		if len(m.Opus) == 0 {
			t.Fatalf("% x decoded with an empty packet", msg)
		}
		var again []byte
		if msg[0] == MsgAudioRedundant {
			again = AppendRedundantAudioMessage(nil, m)
		} else {
			again = AppendAudioMessage(nil, m)
		}
		if !bytes.Equal(again, msg) {
			t.Fatalf("% x decoded as %+v, which frames as % x", msg, m, again)
		}
	})
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
	// consecutive numbers, 480 samples (10 ms) apart, each message carrying
	// the packet of the one before as well.
	for i, m := range msgs {
		if m.Seq != first.Seq+uint16(i) || m.Timestamp != first.Timestamp+uint32(i*opusFrameSize) {
			t.Errorf("message %d: seq %d ts %d after seq %d ts %d", i, m.Seq, m.Timestamp, first.Seq, first.Timestamp)
		}
		if i > 0 && !bytes.Equal(m.Previous, msgs[i-1].Opus) {
			t.Errorf("message %d carries % x as the previous packet, want % x", i, m.Previous, msgs[i-1].Opus)
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
