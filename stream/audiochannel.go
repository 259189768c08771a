package stream

import (
	"encoding/binary"
	"fmt"
)

// The audio data channel: a faster path for the sound than the RTP track.
// Chrome plays an RTP audio track through NetEQ, whose jitter buffer holds
// 50-65 ms whatever the Opus frame size (DESIGN §3); a page with WebCodecs
// and AudioWorklet (secure contexts only) asks for the same Opus packets over
// this channel and plays them itself through an adaptive jitter buffer
// (assets/jitter.js). The packets are the ones the RTP track carries: nothing
// is encoded twice.
//
// The channel is unordered with no retransmits: a retransmit would arrive too
// late to be heard. Instead each message also carries the packet before it
// (as RED, RFC 2198, does on RTP): a single lost packet is decoded from the
// next message's copy, and the page conceals what is still missing.
const (
	// InputLabel is the input data channel's label; its messages are
	// emu.Input (emu/input.go).
	InputLabel = "input"
	// AudioLabel is the audio data channel's label.
	AudioLabel = "audio"
	// MsgAudio is the first byte of an audio message with one packet:
	// [type u8][sequence u16 LE][timestamp u32 LE, in 48 kHz samples][Opus packet].
	MsgAudio = 0x02
	// MsgAudioRedundant is the first byte of an audio message that also
	// carries the previous packet (sequence − 1, AudioPacketSamples earlier):
	// [type u8][sequence u16 LE][timestamp u32 LE][primary length u16 LE][primary][previous].
	MsgAudioRedundant = 0x03
	// AudioHeaderSize is the header before the Opus packet of a MsgAudio.
	AudioHeaderSize = 7
	// AudioRedundantHeaderSize is the header before the primary packet of a MsgAudioRedundant.
	AudioRedundantHeaderSize = AudioHeaderSize + 2
	// AudioPacketSamples is every packet's length (10 ms at 48 kHz), so the
	// previous packet of a MsgAudioRedundant starts this much earlier.
	AudioPacketSamples = opusFrameSize
	// audioMaxBuffered: a channel with more than this queued in SCTP (about
	// 300 ms of messages of two packets at opusBitrate) skips packets until it
	// drains; sound that late is dropped by the page anyway.
	audioMaxBuffered = 8 << 10
)

// AudioMessage is one decoded audio message.
type AudioMessage struct {
	Seq       uint16 // +1 per packet, wrapping
	Timestamp uint32 // first sample of the packet, 48 kHz, wrapping
	Opus      []byte // aliases the message
	// Previous is the packet of Seq − 1 (Timestamp − AudioPacketSamples), for
	// the page to decode if that one was lost: in MsgAudioRedundant only,
	// empty in MsgAudio. Aliases the message.
	Previous []byte
}

// AppendAudioMessage appends the framed message for one Opus packet to dst.
func AppendAudioMessage(dst []byte, m AudioMessage) []byte {
	dst = append(dst, MsgAudio)
	dst = binary.LittleEndian.AppendUint16(dst, m.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, m.Timestamp)
	return append(dst, m.Opus...)
}

// AppendRedundantAudioMessage appends the MsgAudioRedundant framing of m
// (its Opus packet and the Previous one) to dst. The sender uses
// AppendAudioMessage when it has no previous packet. An Opus packet is far
// below the u16 length's 64 KiB (1275 bytes a frame at most, RFC 6716 §3.2.1;
// 120 bytes at this host's 96 kbit/s and 10 ms).
func AppendRedundantAudioMessage(dst []byte, m AudioMessage) []byte {
	dst = append(dst, MsgAudioRedundant)
	dst = binary.LittleEndian.AppendUint16(dst, m.Seq)
	dst = binary.LittleEndian.AppendUint32(dst, m.Timestamp)
	dst = binary.LittleEndian.AppendUint16(dst, uint16(len(m.Opus)))
	dst = append(dst, m.Opus...)
	return append(dst, m.Previous...)
}

// DecodeAudioMessage is the inverse of AppendAudioMessage and
// AppendRedundantAudioMessage (Go clients and tests). An empty previous
// packet in a MsgAudioRedundant decodes as none.
func DecodeAudioMessage(msg []byte) (AudioMessage, error) {
	if len(msg) == 0 {
		return AudioMessage{}, fmt.Errorf("empty audio message")
	}
	header := AudioHeaderSize
	switch msg[0] {
	case MsgAudio:
	case MsgAudioRedundant:
		header = AudioRedundantHeaderSize
	default:
		return AudioMessage{}, fmt.Errorf("unknown audio message type 0x%02x", msg[0])
	}
	if len(msg) <= header {
		return AudioMessage{}, fmt.Errorf("audio message 0x%02x must be more than %d bytes, got %d", msg[0], header, len(msg))
	}
	m := AudioMessage{
		Seq:       binary.LittleEndian.Uint16(msg[1:]),
		Timestamp: binary.LittleEndian.Uint32(msg[3:]),
		Opus:      msg[header:],
	}
	if msg[0] == MsgAudioRedundant {
		primary := int(binary.LittleEndian.Uint16(msg[AudioHeaderSize:]))
		if primary == 0 || primary > len(msg)-header {
			return AudioMessage{}, fmt.Errorf("audio message: primary packet of %d bytes in %d after the header", primary, len(msg)-header)
		}
		m.Opus = msg[header : header+primary]
		if rest := msg[header+primary:]; len(rest) > 0 {
			m.Previous = rest
		}
	}
	return m, nil
}
