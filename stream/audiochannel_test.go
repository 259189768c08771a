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
	m := AudioMessage{Seq: 0xbeef, Timestamp: 0x01020304, Packets: []AudioPacket{
		{Samples: 840, Opus: []byte{0xfc, 0xff, 0xfe}},
		{Samples: 720, Opus: []byte{0xfc, 0x01}},
	}}
	msg := AppendAudioMessage(nil, m)
	want := []byte{MsgAudio, 0xef, 0xbe, 0x04, 0x03, 0x02, 0x01, 2,
		0x48, 0x03, 3, 0, 0xd0, 0x02, 2, 0,
		0xfc, 0xff, 0xfe, 0xfc, 0x01}
	if !bytes.Equal(msg, want) {
		t.Fatalf("framed % x, want % x", msg, want)
	}
	got, err := DecodeAudioMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if got.Seq != m.Seq || got.Timestamp != m.Timestamp || len(got.Packets) != 2 {
		t.Fatalf("decoded %+v", got)
	}
	for i, p := range m.Packets {
		if got.Packets[i].Samples != p.Samples || !bytes.Equal(got.Packets[i].Opus, p.Opus) {
			t.Errorf("packet %d decoded as %+v, want %+v", i, got.Packets[i], p)
		}
	}
	// A resend is the same layout under its own type.
	resend := AppendAudioMessage(nil, AudioMessage{Seq: 1, Timestamp: 2, Packets: m.Packets[:1], Resend: true})
	if r, err := DecodeAudioMessage(resend); err != nil || resend[0] != MsgAudioResend || !r.Resend || len(r.Packets) != 1 {
		t.Errorf("resend % x decoded as %+v, %v", resend, r, err)
	}
	// The copy of the packet before starts its own length earlier.
	if ts := got.PacketTimestamp(1); ts != 0x01020304-720 {
		t.Errorf("packet 1 starts at %d, want %d", ts, 0x01020304-720)
	}
}

func TestAudioMessageRejectsBadFraming(t *testing.T) {
	good := AppendAudioMessage(nil, AudioMessage{Seq: 7, Timestamp: 480, Packets: []AudioPacket{
		{Samples: 720, Opus: []byte{1, 2, 3}}, {Samples: 840, Opus: []byte{4, 5}}}})
	with := func(at int, b ...byte) []byte {
		m := bytes.Clone(good)
		copy(m[at:], b)
		return m
	}
	four := AppendAudioMessage(nil, AudioMessage{Packets: []AudioPacket{{1, []byte{1}}, {1, []byte{2}}, {1, []byte{3}}, {1, []byte{4}}}})
	for name, bad := range map[string][]byte{
		"empty":                    nil,
		"type only":                {MsgAudio},
		"input type":               append([]byte{emu.MsgInput}, good[1:]...),
		"the old one-packet type":  with(0, 0x02),
		"header only":              good[:AudioHeaderSize],
		"no packets":               with(7, 0),
		"more packets than it may": four,
		"cut in the table":         good[:AudioHeaderSize+audioEntrySize+1],
		"no samples":               with(AudioHeaderSize, 0, 0),
		"no bytes":                 with(AudioHeaderSize+2, 0, 0),
		"longer than the message":  with(AudioHeaderSize+2, 4, 0),
		"length 0xffff":            with(AudioHeaderSize+2, 0xff, 0xff),
		"bytes after the packets":  append(bytes.Clone(good), 9),
		"cut in a packet":          good[:len(good)-1],
	} {
		if m, err := DecodeAudioMessage(bad); err == nil {
			t.Errorf("%s: decoded % x as %+v without an error", name, bad, m)
		}
	}
}

// FuzzDecodeAudioMessage: any bytes decode without a panic, and what decodes
// frames back to the same bytes.
func FuzzDecodeAudioMessage(f *testing.F) {
	f.Add(AppendAudioMessage(nil, AudioMessage{Seq: 1, Timestamp: 2, Packets: []AudioPacket{{840, []byte{0xfc}}}}))
	f.Add(AppendAudioMessage(nil, AudioMessage{Seq: 0xffff, Timestamp: 0xffffffff, Packets: []AudioPacket{
		{720, []byte{0xfc, 0xff}}, {840, []byte{0xfc}}, {840, []byte{1, 2, 3}}}}))
	f.Add([]byte{MsgAudio, 0, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 1})
	f.Add(AppendAudioMessage(nil, AudioMessage{Seq: 9, Timestamp: 840, Packets: []AudioPacket{{840, []byte{0xfc, 1}}}, Resend: true}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, msg []byte) {
		m, err := DecodeAudioMessage(msg)
		if err != nil {
			return
		}
		for i, p := range m.Packets {
			if len(p.Opus) == 0 || p.Samples == 0 {
				t.Fatalf("% x decoded with an empty packet %d", msg, i)
			}
		}
		if again := AppendAudioMessage(nil, m); !bytes.Equal(again, msg) {
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
	// A clean link gets the new packet alone; once the page's receiver
	// report says it lost sound, its messages carry copies too.
	plainMsgs, resends := receiveAudio(t, h, fast, frame, audio, info, 3)
	for i, m := range plainMsgs {
		if len(m.Packets) != 1 {
			t.Errorf("clean link, message %d: %d packets, want the new one alone", i, len(m.Packets))
		}
	}
	if len(resends) > 0 {
		t.Errorf("clean link: %d resends", len(resends))
	}
	fast.peer.rate.setAudioLoss(fractionLostScale/20, time.Now()) // 5 %
	msgs, resends := receiveAudio(t, h, fast, frame, audio, info, 5)
	first := msgs[0]
	// Each packet also goes again alone, AudioResendDelay later.
	if len(resends) < len(msgs)-2 {
		t.Errorf("lossy link: %d resends for %d messages", len(resends), len(msgs))
	}
	for _, r := range resends {
		i := int(r.Seq - first.Seq)
		if len(r.Packets) != 1 || i < 0 || i >= len(msgs) {
			continue // a resend of a message before the ones kept
		}
		if r.Timestamp != msgs[i].Timestamp || !bytes.Equal(r.Packets[0].Opus, msgs[i].Packets[0].Opus) {
			t.Errorf("the resend of seq %d is not its packet", r.Seq)
		}
	}
	// The channel may drop packets (no retransmits) but loopback does not:
	// consecutive numbers, each packet an emulated frame's whole 2.5 ms
	// frames (6 or 7 of the 6.67 a 60 fps frame has, when the writer keeps
	// up with the test's frames), starting where the one
	// before ended; each message carries the packets of the ones before too.
	ts := first.Timestamp
	for i, m := range msgs {
		if m.Seq != first.Seq+uint16(i) || m.Timestamp != ts {
			t.Errorf("message %d: seq %d ts %d, want seq %d ts %d", i, m.Seq, m.Timestamp, first.Seq+uint16(i), ts)
		}
		// 6 or 7 frames when the writer keeps up; whole frames, at most a packet's worth, when frames pile up.
		if s := m.Packets[0].Samples; s%opusFrameSize != 0 || s > maxOpusFramesPerPacket*opusFrameSize {
			t.Errorf("message %d: a packet of %d samples, want whole %d-sample frames, at most %d", i, s, opusFrameSize, maxOpusFramesPerPacket)
		}
		ts = m.Timestamp + uint32(m.Packets[0].Samples)
		if want := min(i, AudioRedundancy) + 1; i > 0 && len(m.Packets) < want {
			t.Errorf("message %d carries %d packets, want %d", i, len(m.Packets), want)
		}
		for k := 1; k < len(m.Packets) && k <= i; k++ {
			if !bytes.Equal(m.Packets[k].Opus, msgs[i-k].Packets[0].Opus) || m.PacketTimestamp(k) != msgs[i-k].Timestamp {
				t.Errorf("message %d: copy %d is not message %d's packet", i, k, i-k)
			}
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

// receiveAudio writes frames until v got n audio messages (resends apart),
// and decodes them.
func receiveAudio(t *testing.T, h *Hub, v *viewer, frame *image.RGBA, audio []int16, info emu.Info, n int) (msgs, resends []AudioMessage) {
	t.Helper()
	for len(v.audioMsgs) > 0 {
		<-v.audioMsgs // sent before: the test wants what comes from now on
	}
	deadline := time.After(10 * time.Second)
	for len(msgs) < n {
		h.WriteFrame(frame, audio, info)
		select {
		case raw := <-v.audioMsgs:
			m, err := DecodeAudioMessage(raw)
			if err != nil {
				t.Fatal(err)
			}
			if m.Resend {
				resends = append(resends, m)
			} else {
				msgs = append(msgs, m)
			}
		case <-time.After(17 * time.Millisecond):
		case <-deadline:
			t.Fatalf("%d audio messages in 10 s", len(msgs))
		}
	}
	return msgs, resends
}
