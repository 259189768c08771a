package stream

import (
	"encoding/binary"
	"fmt"
)

// The audio data channel: a faster path for the sound than the RTP track.
// Chrome plays an RTP audio track through NetEQ, whose jitter buffer holds
// 50-65 ms whatever the Opus frame size (DESIGN §3); a page with WebCodecs
// and AudioWorklet (secure contexts only) asks for the same Opus packets over
// this channel and plays them itself with a jitter buffer of ~1 packet. The
// packets are the ones the RTP track carries: nothing is encoded twice.
//
// The channel is unordered with no retransmits: a lost or late packet is
// silence for 10 ms, where a retransmit would arrive too late to be heard.
const (
	// AudioLabel is the audio data channel's label.
	AudioLabel = "audio"
	// MsgAudio is the first byte of an audio message.
	MsgAudio = 0x02
	// AudioHeaderSize is the header before the Opus packet:
	// [type u8][sequence u16 LE][timestamp u32 LE, in 48 kHz samples].
	AudioHeaderSize = 7
	// audioMaxBuffered: a channel with more than this queued in SCTP (about
	// 300 ms of packets) skips packets until it drains; sound that late is
	// dropped by the page anyway.
	audioMaxBuffered = 4 << 10
)

// AudioMessage is one decoded audio message.
type AudioMessage struct {
	Seq       uint16 // +1 per packet, wrapping
	Timestamp uint32 // first sample of the packet, 48 kHz, wrapping
	Opus      []byte // aliases the message
}

// AppendAudioMessage appends the framed message for one Opus packet to dst.
func AppendAudioMessage(dst []byte, m AudioMessage) []byte {
	dst = append(dst, MsgAudio)
	dst = binary.LittleEndian.AppendUint16(dst, m.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, m.Timestamp)
	return append(dst, m.Opus...)
}

// DecodeAudioMessage is AppendAudioMessage's inverse (Go clients and tests).
func DecodeAudioMessage(msg []byte) (AudioMessage, error) {
	if len(msg) <= AudioHeaderSize {
		return AudioMessage{}, fmt.Errorf("audio message must be more than %d bytes, got %d", AudioHeaderSize, len(msg))
	}
	if msg[0] != MsgAudio {
		return AudioMessage{}, fmt.Errorf("unknown audio message type 0x%02x", msg[0])
	}
	return AudioMessage{
		Seq:       binary.LittleEndian.Uint16(msg[1:]),
		Timestamp: binary.LittleEndian.Uint32(msg[3:]),
		Opus:      msg[AudioHeaderSize:],
	}, nil
}
