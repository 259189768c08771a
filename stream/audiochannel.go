package stream

import (
	"encoding/binary"
	"fmt"
	"time"
)

// The audio data channel: a faster path for the sound than the RTP track.
// Chrome plays an RTP audio track through NetEQ, whose jitter buffer holds
// 50-65 ms whatever the Opus frame size (DESIGN §3); a page with WebCodecs
// and AudioWorklet (secure contexts only) asks for the same Opus packets over
// this channel and plays them itself through an adaptive jitter buffer
// (assets/jitter.js). The packets are the ones the RTP track carries: nothing
// is encoded twice.
//
// A packet is all the sound of one emulated frame that makes whole 2.5 ms
// Opus frames (writer.go): 15 or 17.5 ms at 60 fps, sent the moment the frame
// is emulated, so the packets leave as evenly as the frames do. (Fixed 10 ms
// packets cut across the 16.7 ms frames: one frame sent one packet, the next
// two, and their arrival spread over 13 ms on a quiet loopback, all of which
// the page's buffer had to hold.)
//
// The channel is unordered with no retransmits: a retransmit would arrive too
// late to be heard. Instead, on a link that loses sound, each message also
// carries the packets before it (as RED, RFC 2198, does on RTP): up to
// AudioRedundancy lost in a row are decoded from the next message's copies,
// and the page conceals what is still missing (writer.go sendAudioChannels).
// Such a link also gets each new packet once more, alone, AudioResendDelay
// after it (MsgAudioResend): a copy that rides with the next packet comes a
// whole packet late, which the page's buffer would have to hold; a resend
// costs it only this delay.
const (
	// InputLabel is the input data channel's label; its messages are
	// emu.Input (emu/input.go).
	InputLabel = "input"
	// AudioLabel is the audio data channel's label.
	AudioLabel = "audio"
	// MsgAudio is the first byte of an audio message (little-endian):
	//   [type u8][sequence u16][timestamp u32, in 48 kHz samples][count u8]
	//   count × [samples u16][length u16]
	//   the count Opus packets, in the same order.
	// Packet 0 is the sequence's, starting at the timestamp; packet i is
	// sequence − i's, which starts where packet i − 1 does less its own samples.
	MsgAudio = 0x04
	// MsgAudioResend is the first byte of a message sent again
	// AudioResendDelay later, with packet 0 alone: same layout as MsgAudio.
	MsgAudioResend = 0x05
	// AudioResendDelay is how long after a message its resend goes: past a
	// short burst of loss, well inside the 15-17.5 ms until the next packet.
	AudioResendDelay = 5 * time.Millisecond
	// AudioHeaderSize is the header before the packets' table.
	AudioHeaderSize = 8
	// audioEntrySize is one row of the table.
	audioEntrySize = 4
	// AudioRedundancy is how many earlier packets each message carries again:
	// under 5 % random loss, three lost in a row (what two copies cannot
	// cover) happen about once in 8000 packets, two in a row once in 400.
	AudioRedundancy = 2
	// audioMaxBuffered: a channel with more than this queued in SCTP (about
	// 250 ms of messages of three packets at opusBitrate) skips packets until it
	// drains; sound that late is dropped by the page anyway.
	audioMaxBuffered = 16 << 10
)

// AudioPacket is one Opus packet of an audio message.
type AudioPacket struct {
	Samples uint16 // its length, in 48 kHz samples per channel
	Opus    []byte // aliases the message
}

// AudioMessage is one decoded audio message.
type AudioMessage struct {
	Seq       uint16 // of Packets[0]; +1 per packet, wrapping
	Timestamp uint32 // Packets[0]'s first sample, 48 kHz, wrapping
	// Packets[0] is the new packet; Packets[i] the one of Seq − i, sent
	// again in case it was lost (at most AudioRedundancy of them).
	Packets []AudioPacket
	// Resend: this is MsgAudioResend, a second sending of Packets[0].
	Resend bool
}

// PacketTimestamp is the first sample of Packets[i].
func (m AudioMessage) PacketTimestamp(i int) uint32 {
	ts := m.Timestamp
	for k := 1; k <= i; k++ {
		ts -= uint32(m.Packets[k].Samples)
	}
	return ts
}

// AppendAudioMessage appends the framed message to dst. An Opus packet is far
// below the u16 length's 64 KiB (1275 bytes a frame at most, RFC 6716 §3.2.1,
// and this host packs at most maxOpusFramesPerPacket of them).
func AppendAudioMessage(dst []byte, m AudioMessage) []byte {
	typ := byte(MsgAudio)
	if m.Resend {
		typ = MsgAudioResend
	}
	dst = append(dst, typ)
	dst = binary.LittleEndian.AppendUint16(dst, m.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, m.Timestamp)
	dst = append(dst, byte(len(m.Packets)))
	for _, p := range m.Packets {
		dst = binary.LittleEndian.AppendUint16(dst, p.Samples)
		dst = binary.LittleEndian.AppendUint16(dst, uint16(len(p.Opus)))
	}
	for _, p := range m.Packets {
		dst = append(dst, p.Opus...)
	}
	return dst
}

// DecodeAudioMessage is the inverse of AppendAudioMessage (Go clients and
// tests). Every packet must have samples and bytes, and the table must
// account for the message to its last byte.
func DecodeAudioMessage(msg []byte) (AudioMessage, error) {
	if len(msg) == 0 {
		return AudioMessage{}, fmt.Errorf("empty audio message")
	}
	if msg[0] != MsgAudio && msg[0] != MsgAudioResend {
		return AudioMessage{}, fmt.Errorf("unknown audio message type 0x%02x", msg[0])
	}
	if len(msg) < AudioHeaderSize {
		return AudioMessage{}, fmt.Errorf("audio message of %d bytes: shorter than its %d-byte header", len(msg), AudioHeaderSize)
	}
	count := int(msg[7])
	if count == 0 || count > 1+AudioRedundancy {
		return AudioMessage{}, fmt.Errorf("audio message with %d packets; want 1 to %d", count, 1+AudioRedundancy)
	}
	body := AudioHeaderSize + count*audioEntrySize
	if len(msg) < body {
		return AudioMessage{}, fmt.Errorf("audio message of %d bytes: cut inside its table of %d packets", len(msg), count)
	}
	m := AudioMessage{
		Seq:       binary.LittleEndian.Uint16(msg[1:]),
		Timestamp: binary.LittleEndian.Uint32(msg[3:]),
		Packets:   make([]AudioPacket, count),
		Resend:    msg[0] == MsgAudioResend,
	}
	at := body
	for i := range m.Packets {
		row := msg[AudioHeaderSize+i*audioEntrySize:]
		samples := binary.LittleEndian.Uint16(row)
		length := int(binary.LittleEndian.Uint16(row[2:]))
		if samples == 0 || length == 0 {
			return AudioMessage{}, fmt.Errorf("audio message: packet %d has %d samples in %d bytes", i, samples, length)
		}
		if length > len(msg)-at {
			return AudioMessage{}, fmt.Errorf("audio message: packet %d of %d bytes, %d left", i, length, len(msg)-at)
		}
		m.Packets[i] = AudioPacket{Samples: samples, Opus: msg[at : at+length]}
		at += length
	}
	if at != len(msg) {
		return AudioMessage{}, fmt.Errorf("audio message: %d bytes after its packets", len(msg)-at)
	}
	return m, nil
}
