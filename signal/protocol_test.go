package signal

import (
	"couchplay/emu"
	"errors"
	"testing"
)

func TestDecodeMessage(t *testing.T) {
	cases := []struct {
		in   string
		code string // "" = valid
		typ  string
	}{
		{`{"type":"join"}`, "", TypeJoin},
		{`{"type":"join","slot":3,"token":"abc"}`, "", TypeJoin},
		{`{"type":"join","watch":true}`, "", TypeJoin},
		{`{"type":"join","slot":5}`, "", TypeJoin},
		{`{"type":"join","slot":-1}`, "", TypeJoin},
		{`{"type":"join","slot":"two"}`, CodeBadMessage, ""},
		{`{"type":"answer","sdp":"v=0"}`, "", TypeAnswer},
		{`{"type":"answer"}`, CodeBadMessage, ""},
		{`{"type":"candidate","candidate":{"candidate":"candidate:1 1 udp 1 127.0.0.1 5000 typ host","sdpMid":"0"}}`, "", TypeCandidate},
		{`{"type":"candidate","candidate":null}`, "", TypeCandidate},
		{`{"type":"leave"}`, "", TypeLeave},
		{`{"type":"library"}`, "", TypeLibrary},
		{`{"type":"play","game":"builtin:testcard"}`, "", TypePlay},
		{`{"type":"play"}`, CodeBadMessage, ""},
		{`{"type":"play","game":""}`, CodeBadMessage, ""},
		{`{"type":"play","game":{"name":"x"}}`, CodeBadMessage, ""},
		{`{"type":"play","game":7}`, CodeBadMessage, ""},
		{`{"type":"stop"}`, "", TypeStop},
		{`{"type":"reset"}`, "", TypeReset},
		{`{"type":"save_state","stateSlot":1}`, "", TypeSaveState},
		{`{"type":"load_state","stateSlot":9}`, "", TypeLoadState},
		{`{"type":"save_state"}`, CodeBadMessage, ""},
		{`{"type":"save_state","stateSlot":0}`, CodeBadMessage, ""},
		{`{"type":"load_state","stateSlot":10}`, CodeBadMessage, ""},
		{`{"type":"load_state","stateSlot":1.5}`, CodeBadMessage, ""},
		{`{"type":"load_state","stateSlot":"1"}`, CodeBadMessage, ""},
		{`{"type":"game","game":{"name":"x"}}`, CodeUnknownType, ""},
		{`{"type":"notice"}`, CodeUnknownType, ""},
		{`{"type":"launch-missiles"}`, CodeUnknownType, ""},
		{`{"slot":1}`, CodeBadMessage, ""},
		{`{"type":"join"`, CodeBadJSON, ""},
		{`not json at all`, CodeBadJSON, ""},
		{``, CodeBadJSON, ""},
		{`[1,2,3]`, CodeBadMessage, ""},
	}
	for _, c := range cases {
		msg, err := DecodeMessage([]byte(c.in))
		if c.code == "" {
			if err != nil {
				t.Errorf("%s: unexpected error %v", c.in, err)
			} else if msg.Type != c.typ {
				t.Errorf("%s: type %q, want %q", c.in, msg.Type, c.typ)
			}
			continue
		}
		var perr *ProtocolError
		if !errors.As(err, &perr) {
			t.Errorf("%s: got %v, want a protocol error %s", c.in, err, c.code)
			continue
		}
		if perr.Code != c.code {
			t.Errorf("%s: code %s, want %s (%s)", c.in, perr.Code, c.code, perr.Text)
		}
	}
}

// FuzzDecodeMessage: whatever a browser sends, decoding returns a message or a
// protocol error, never panics, and a valid message has a known type.
func FuzzDecodeMessage(f *testing.F) {
	for _, seed := range []string{`{"type":"join","slot":2}`, `{"type":"answer","sdp":"x"}`, `{"type":"candidate","candidate":{"candidate":"a"}}`,
		`{"type":"play","game":"builtin:game"}`, `{"type":"save_state","stateSlot":3}`, `{"type":"load_state","stateSlot":12}`, `{"type":"library"}`, `{`, `null`, `{"type":1}`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msg, err := DecodeMessage(data)
		if err != nil {
			var perr *ProtocolError
			if !errors.As(err, &perr) {
				t.Fatalf("non-protocol error %v", err)
			}
			return
		}
		switch msg.Type {
		case TypeJoin, TypeAnswer, TypeCandidate, TypeLeave, TypeLibrary, TypeStop, TypeReset:
		case TypePlay:
			if msg.GameID == "" {
				t.Fatal("accepted play without a game id")
			}
		case TypeSaveState, TypeLoadState:
			if msg.StateSlot < 1 || msg.StateSlot > emu.StateSlots {
				t.Fatalf("accepted stateSlot %d", msg.StateSlot)
			}
		default:
			t.Fatalf("accepted unknown type %q", msg.Type)
		}
	})
}

// The join's audioPath is what session.join turns into the audio data channel.
func TestDecodeJoinAudioPath(t *testing.T) {
	m, err := DecodeMessage([]byte(`{"type":"join","audioPath":"datachannel"}`))
	if err != nil || m.AudioPath != AudioPathDataChannel {
		t.Fatalf("audioPath %q, err %v", m.AudioPath, err)
	}
	if m, err = DecodeMessage([]byte(`{"type":"join"}`)); err != nil || m.AudioPath != "" {
		t.Fatalf("a join without audioPath: %q, err %v", m.AudioPath, err)
	}
}
