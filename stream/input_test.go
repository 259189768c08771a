package stream

import (
	"testing"

	"couchplay/emu"
)

func TestInputRoundTrip(t *testing.T) {
	in := Input{Seq: 200, Buttons: emu.ButtonA | emu.ButtonLeft | emu.ButtonR}
	got, err := DecodeInput(EncodeInput(in))
	if err != nil || got != in {
		t.Fatalf("round trip: %+v %v, want %+v", got, err, in)
	}
	// Little-endian on the wire: A (bit 8) is in the second buttons byte.
	if b := EncodeInput(Input{Buttons: emu.ButtonA}); b[2] != 0 || b[3] != 1 {
		t.Fatalf("wire bytes %v", b)
	}
}

func TestDecodeInputRejects(t *testing.T) {
	for _, msg := range [][]byte{nil, {}, {MsgInput, 1, 0}, {MsgInput, 1, 0, 0, 0}, {0x02, 1, 0, 0}, make([]byte, 1024)} {
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
