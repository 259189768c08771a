package stream

import (
	"fmt"

	"couchplay/emu"
)

// Data channel input messages. The channel is unordered with no retransmits, so
// every message carries the full button state (a lost one is repaired by the
// next) and a wrapping sequence number (a late one is dropped).
const (
	// InputLabel is the data channel's label.
	InputLabel = "input"
	// MsgInput is the first byte of an input message.
	MsgInput = 0x01
	// InputSize is the exact size of an input message:
	// [type u8][sequence u8][buttons u16 little-endian].
	InputSize = 4
)

// Input is one decoded input message.
type Input struct {
	Seq     uint8
	Buttons emu.Buttons
}

// DecodeInput parses a data channel message from an untrusted peer.
func DecodeInput(msg []byte) (Input, error) {
	if len(msg) != InputSize {
		return Input{}, fmt.Errorf("input message must be %d bytes, got %d", InputSize, len(msg))
	}
	if msg[0] != MsgInput {
		return Input{}, fmt.Errorf("unknown input message type 0x%02x", msg[0])
	}
	return Input{Seq: msg[1], Buttons: emu.Buttons(uint16(msg[2]) | uint16(msg[3])<<8)}, nil
}

// EncodeInput is DecodeInput's inverse (used by Go clients and tests).
func EncodeInput(in Input) []byte {
	return []byte{MsgInput, in.Seq, byte(in.Buttons), byte(in.Buttons >> 8)}
}

// Newer reports whether sequence number seq follows last, modulo 256: a message
// up to 127 steps ahead is newer, anything else is late or a duplicate.
func Newer(seq, last uint8) bool {
	return int8(seq-last) > 0
}
