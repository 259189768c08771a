package emu

import (
	"encoding/binary"
	"fmt"
)

// Input messages, as pages send them on the "input" data channel
// (stream.InputLabel). The channel is unordered with no retransmits, so
// every message carries the full pad state (a lost one is repaired by the
// next) and a wrapping sequence number (a late one is dropped). They live
// here, beside the buttons they carry, so that the room's policy (room/)
// decodes and orders input without depending on the media side.
const (
	// MsgInput is the first byte of a buttons-only message (old pages, Go
	// clients): [type u8][sequence u8][buttons u16 little-endian].
	MsgInput = 0x01
	// MsgInputAnalog is the first byte of a message with the sticks too:
	// [type u8][sequence u8][buttons u16][left X, left Y, right X, right Y:
	// int16 each], all little-endian. The sticks are libretro's analog range.
	MsgInputAnalog = 0x02
	// MsgInputPrevious is the first byte of what pages send now: the buttons,
	// the buttons of the message before it (sequence - 1), then the sticks:
	// [type u8][sequence u8][buttons u16][previous buttons u16][left X, left
	// Y, right X, right Y: int16 each]. A short press is two messages (down,
	// up); if every copy of the down is lost, the up still carries it, so the
	// host can play it for a frame instead of never seeing it.
	MsgInputPrevious = 0x03
	// InputSize is the exact size of a MsgInput message.
	InputSize = 4
	// InputAnalogSize is the exact size of a MsgInputAnalog message.
	InputAnalogSize = InputSize + 4*2
	// InputPreviousSize is the exact size of a MsgInputPrevious message.
	InputPreviousSize = InputAnalogSize + 2
)

// Input is one decoded input message. Type is MsgInput, MsgInputAnalog or
// MsgInputPrevious (0 encodes as MsgInput); a MsgInput message means centred
// sticks. Previous is only carried by MsgInputPrevious.
type Input struct {
	Type     byte
	Seq      uint8
	Buttons  Buttons
	Previous Buttons
	Analog   Analog
}

// DecodeInput parses a data channel message from an untrusted peer.
func DecodeInput(msg []byte) (Input, error) {
	if len(msg) == 0 {
		return Input{}, fmt.Errorf("empty input message")
	}
	want := 0
	switch msg[0] {
	case MsgInput:
		want = InputSize
	case MsgInputAnalog:
		want = InputAnalogSize
	case MsgInputPrevious:
		want = InputPreviousSize
	default:
		return Input{}, fmt.Errorf("unknown input message type 0x%02x", msg[0])
	}
	if len(msg) != want {
		return Input{}, fmt.Errorf("input message 0x%02x must be %d bytes, got %d", msg[0], want, len(msg))
	}
	le := binary.LittleEndian
	in := Input{Type: msg[0], Seq: msg[1], Buttons: Buttons(le.Uint16(msg[2:]))}
	sticks := msg[4:]
	if in.Type == MsgInputPrevious {
		in.Previous = Buttons(le.Uint16(msg[4:]))
		sticks = msg[6:]
	}
	if in.Type != MsgInput {
		in.Analog = Analog{
			LX: int16(le.Uint16(sticks[0:])), LY: int16(le.Uint16(sticks[2:])),
			RX: int16(le.Uint16(sticks[4:])), RY: int16(le.Uint16(sticks[6:])),
		}
	}
	return in, nil
}

// EncodeInput is DecodeInput's inverse (used by Go clients and tests).
func EncodeInput(in Input) []byte {
	le := binary.LittleEndian
	if in.Type != MsgInputAnalog && in.Type != MsgInputPrevious {
		return le.AppendUint16([]byte{MsgInput, in.Seq}, uint16(in.Buttons))
	}
	b := le.AppendUint16([]byte{in.Type, in.Seq}, uint16(in.Buttons))
	if in.Type == MsgInputPrevious {
		b = le.AppendUint16(b, uint16(in.Previous))
	}
	for _, v := range [...]int16{in.Analog.LX, in.Analog.LY, in.Analog.RX, in.Analog.RY} {
		b = le.AppendUint16(b, uint16(v))
	}
	return b
}

// Newer reports whether sequence number seq follows last, modulo 256: a message
// up to 127 steps ahead is newer, anything else is late or a duplicate.
func Newer(seq, last uint8) bool {
	return int8(seq-last) > 0
}
