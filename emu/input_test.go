package emu

import (
	"testing"
)

func TestInputRoundTrip(t *testing.T) {
	in := Input{Seq: 200, Buttons: ButtonA | ButtonLeft | ButtonR}
	got, err := DecodeInput(EncodeInput(in))
	if want := (Input{Type: MsgInput, Seq: 200, Buttons: in.Buttons}); err != nil || got != want {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, want)
	}
	// Little-endian on the wire: A (bit 8) is in the second buttons byte.
	if b := EncodeInput(Input{Buttons: ButtonA}); b[2] != 0 || b[3] != 1 {
		t.Fatalf("wire bytes %v", b)
	}
}

func TestInputPreviousWire(t *testing.T) {
	in := Input{Type: MsgInputPrevious, Seq: 9, Buttons: ButtonB, Previous: ButtonA, Analog: Analog{LX: -1, RY: 2}}
	b := EncodeInput(in)
	want := []byte{MsgInputPrevious, 9, 0x01, 0x00, 0x00, 0x01, 0xff, 0xff, 0, 0, 0, 0, 0x02, 0x00}
	if string(b) != string(want) || len(b) != InputPreviousSize {
		t.Fatalf("wire bytes % x, want % x", b, want)
	}
	got, err := DecodeInput(b)
	if err != nil || got != in {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, in)
	}
}

func TestInputAnalogWire(t *testing.T) {
	in := Input{Type: MsgInputAnalog, Seq: 7, Buttons: ButtonA | ButtonR3,
		Analog: Analog{LX: -32768, LY: 32767, RX: -1, RY: 0x1234}}
	b := EncodeInput(in)
	want := []byte{MsgInputAnalog, 7, 0, 0x81, 0x00, 0x80, 0xff, 0x7f, 0xff, 0xff, 0x34, 0x12}
	if string(b) != string(want) || len(b) != InputAnalogSize {
		t.Fatalf("wire bytes % x, want % x", b, want)
	}
	got, err := DecodeInput(b)
	if err != nil || got != in {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, in)
	}
	// The buttons-only type still decodes, with centred sticks.
	got, err = DecodeInput([]byte{MsgInput, 8, 0, 1})
	if err != nil || got != (Input{Type: MsgInput, Seq: 8, Buttons: ButtonA}) {
		t.Fatalf("buttons-only message: %+v %v", got, err)
	}
}

func TestDecodeInputRejects(t *testing.T) {
	analogShort := make([]byte, InputAnalogSize-1)
	analogShort[0] = MsgInputAnalog
	analogLong := make([]byte, InputAnalogSize+1)
	analogLong[0] = MsgInputAnalog
	buttonsAsAnalog := make([]byte, InputAnalogSize) // a 0x01 message must be 4 bytes
	buttonsAsAnalog[0] = MsgInput
	for _, msg := range [][]byte{nil, {}, {MsgInput, 1, 0}, {MsgInput, 1, 0, 0, 0}, {MsgInputAnalog, 1, 0, 0},
		{MsgInputPrevious, 1, 0, 0, 0, 0}, {0x04, 1, 0, 0}, analogShort, analogLong, buttonsAsAnalog, make([]byte, 1024)} {
		if _, err := DecodeInput(msg); err == nil {
			t.Errorf("accepted %v", msg)
		}
	}
}

func TestNewerWraps(t *testing.T) {
	cases := []struct {
		seq, last uint8
		want      bool
	}{{1, 0, true}, {0, 1, false}, {5, 5, false}, {0, 255, true}, {255, 0, false}, {127, 0, true}, {128, 0, false}}
	for _, c := range cases {
		if got := Newer(c.seq, c.last); got != c.want {
			t.Errorf("Newer(%d, %d) = %v", c.seq, c.last, got)
		}
	}
}

// FuzzDecodeInput: untrusted data channel bytes decode or fail cleanly, and a
// decoded message re-encodes to the same bytes.
func FuzzDecodeInput(f *testing.F) {
	f.Add([]byte{MsgInput, 0, 0, 1})
	f.Add([]byte{0, 0})
	f.Add(EncodeInput(Input{Type: MsgInputPrevious, Seq: 7, Buttons: ButtonA, Previous: ButtonB, Analog: Analog{LY: -5}}))
	f.Add(EncodeInput(Input{Type: MsgInputAnalog, Seq: 255, Buttons: ButtonL2, Analog: Analog{LX: -32768, RY: 32767}}))
	f.Add([]byte{MsgInputAnalog, 1, 0, 0})
	f.Add(make([]byte, InputAnalogSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := DecodeInput(data)
		if err != nil {
			return
		}
		if string(EncodeInput(in)) != string(data) {
			t.Fatalf("%v decoded to %+v which encodes differently", data, in)
		}
	})
}
