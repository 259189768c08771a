package signal

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"

	"couchplay/emu"
	"couchplay/internal/vp8dec"
	"couchplay/stream"
)

// A page without WebRTC: its join asks for the media over the WebSocket. The
// host sends real VP8 frames (a keyframe first) and Opus packets on the same
// socket, takes input from it, and /healthz names the transport.
func TestWebSocketMediaCarriesVideoSoundAndInput(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := h.dial(t, ctx)
	defer c.CloseNow()
	send(t, ctx, c, `{"type":"join","media":"websocket"}`)
	if w := next(t, ctx, c, TypeWelcome); w.Slot != 1 {
		t.Fatalf("welcome %+v, want slot 1", w)
	}
	dec, err := vp8dec.New()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	var frames, sounds int
	var lastTS uint32
	for frames < 10 || sounds < 10 {
		typ, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("after %d frames and %d sounds: %v", frames, sounds, err)
		}
		if typ == websocket.MessageText {
			var m Message
			if json.Unmarshal(data, &m) != nil || m.Type == TypeOffer {
				t.Fatalf("a WebSocket-media page got %s", data)
			}
			continue
		}
		switch data[0] {
		case stream.MsgSocketVideo:
			if len(data) <= stream.SocketVideoHeader {
				t.Fatalf("video message of %d bytes", len(data))
			}
			key := data[1]&stream.SocketVideoKey != 0
			if frames == 0 && !key {
				t.Fatal("the first frame is not a keyframe")
			}
			ts := binary.LittleEndian.Uint32(data[2:])
			if frames > 0 && ts <= lastTS {
				t.Fatalf("frame %d: timestamp %d after %d", frames, ts, lastTS)
			}
			lastTS = ts
			img, err := dec.Decode(data[stream.SocketVideoHeader:])
			if err != nil {
				t.Fatalf("frame %d does not decode: %v", frames, err)
			}
			if img.Rect.Dx() == 0 {
				t.Fatalf("frame %d decoded to nothing", frames)
			}
			frames++
		case stream.MsgAudio:
			m, err := stream.DecodeAudioMessage(data)
			if err != nil || len(m.Packets) != 1 {
				t.Fatalf("audio message %v, %d packets (want the new one alone: TCP loses nothing)", err, len(m.Packets))
			}
			sounds++
		default:
			t.Fatalf("unknown media message type 0x%02x", data[0])
		}
	}
	// Input up the same socket, in the data channel's format.
	in := emu.EncodeInput(emu.Input{Type: emu.MsgInputPrevious, Seq: 1, Buttons: emu.ButtonA})
	if err := c.Write(ctx, websocket.MessageBinary, in); err != nil {
		t.Fatal(err)
	}
	rm := h.srv.Room()
	if !eventually(ctx, func() bool { return rm.Buttons(0) == emu.ButtonA }) {
		t.Fatal("A sent up the socket never reached port 0")
	}
	// A bad input message is answered, and the socket stays open.
	if err := c.Write(ctx, websocket.MessageBinary, []byte{0x7f, 1}); err != nil {
		t.Fatal(err)
	}
	if e := next(t, ctx, c, TypeError); e.Code != CodeBadInput {
		t.Fatalf("bad input answered %+v", e)
	}
	// The decoder asks for a keyframe: one comes.
	send(t, ctx, c, `{"type":"keyframe"}`)
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal("no keyframe after the page asked:", err)
		}
		if typ == websocket.MessageBinary && data[0] == stream.MsgSocketVideo && data[1]&stream.SocketVideoKey != 0 {
			break
		}
	}
	if got := h.health(t).Members; len(got) != 1 || got[0] != (MemberMedia{Slot: 1, Media: MediaWebSocket}) {
		t.Fatalf("healthz members %+v, want slot 1 on websocket", got)
	}
	send(t, ctx, c, `{"type":"leave"}`)
	if !eventually(ctx, func() bool { return h.hub.Connected() == 0 }) {
		t.Fatal("the socket viewer outlived its session")
	}
}

// Long-polling cannot carry the media: such a join is refused with the reason, before any seat is taken.
func TestWebSocketMediaOverPollIsRefused(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	p := openPoll(t, h)
	p.send(`{"type":"join","media":"websocket"}`)
	for {
		_, batch := p.recv(ctx)
		for _, m := range batch {
			if m.Type == TypeWelcome {
				t.Fatal("a poll session was seated for WebSocket media")
			}
			if m.Type == TypeError {
				if m.Code != CodeBadMessage || h.health(t).Players != 0 {
					t.Fatalf("refusal %+v, players %d", m, h.health(t).Players)
				}
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatal("no answer to the join")
		}
	}
}

func TestJoinWithUnknownMediaIsABadMessage(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := h.dial(t, ctx)
	defer c.CloseNow()
	send(t, ctx, c, `{"type":"join","media":"carrier-pigeon"}`)
	if e := next(t, ctx, c, TypeError); e.Code != CodeBadMessage {
		t.Fatalf("got %+v", e)
	}
}

// A browser closes a page's socket with 1001 when the page goes away (Firefox
// before pagehide, so no leave): the slot is free at once. Another close (the
// page's 4003 into the back/forward cache, a dropped connection) keeps it reserved.
func TestGoingAwayFreesTheSlotOtherClosesReserveIt(t *testing.T) {
	h := startHost(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	rm := h.srv.Room()
	for _, tc := range []struct {
		code     websocket.StatusCode
		reserved bool
	}{{websocket.StatusGoingAway, false}, {4003, true}} {
		c := h.dial(t, ctx)
		send(t, ctx, c, `{"type":"join","media":"websocket"}`)
		if w := next(t, ctx, c, TypeWelcome); w.Slot != 1 {
			t.Fatalf("close %d: welcome %+v", tc.code, w)
		}
		c.Close(tc.code, "")
		if !eventually(ctx, func() bool { players, _ := rm.Roster(); return len(players) == 0 || len(rm.Reserved()) == 1 }) {
			t.Fatalf("close %d: the session did not end", tc.code)
		}
		if got := len(rm.Reserved()) == 1; got != tc.reserved {
			players, _ := rm.Roster()
			t.Fatalf("close %d: reserved %v (players %v), want %v", tc.code, got, players, tc.reserved)
		}
	}
}
