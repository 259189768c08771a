package signal

import (
	"errors"
	"slices"
	"testing"

	"couchplay/emu"
	"couchplay/stream"
)

func TestRoomLowestFreeSlotThenSpectators(t *testing.T) {
	r := NewRoom(2)
	var members []*Member
	for want := 1; want <= 4; want++ {
		m := &Member{}
		slot, notice, err := r.Join(m, 0, false)
		if err != nil || slot != want || notice != "" {
			t.Fatalf("join %d: slot %d notice %q err %v", want, slot, notice, err)
		}
		members = append(members, m)
	}
	fifth := &Member{}
	slot, notice, err := r.Join(fifth, 0, false)
	if err != nil || slot != 0 || notice == "" {
		t.Fatalf("fifth joiner: slot %d notice %q err %v, want a spectator with a notice", slot, notice, err)
	}
	if _, _, err := r.Join(&Member{}, 0, true); err != nil {
		t.Fatalf("second spectator: %v", err)
	}
	if _, _, err := r.Join(&Member{}, 0, true); !errors.Is(err, ErrRoomFull) {
		t.Fatalf("spectator over the limit: err %v, want ErrRoomFull", err)
	}
	// Slot 2 frees up and goes to the next joiner, the lowest free one.
	r.Leave(members[1])
	if players, spectators := r.Roster(); !slices.Equal(players, []int{1, 3, 4}) || spectators != 2 {
		t.Fatalf("roster %v %d", players, spectators)
	}
	m := &Member{}
	if slot, _, _ := r.Join(m, 0, false); slot != 2 {
		t.Fatalf("rejoin got slot %d, want 2", slot)
	}
}

func TestRoomAskedSlot(t *testing.T) {
	r := NewRoom(8)
	a := &Member{}
	if slot, _, _ := r.Join(a, 3, false); slot != 3 {
		t.Fatalf("asked for 3, got %d", slot)
	}
	b := &Member{}
	slot, notice, _ := r.Join(b, 3, false)
	if slot != 0 || notice == "" {
		t.Fatalf("taken slot: got slot %d notice %q, want spectator with notice", slot, notice)
	}
	if slot, _, _ := r.Join(&Member{}, 0, true); slot != 0 {
		t.Fatalf("watch got slot %d", slot)
	}
	for _, bad := range []int{5, -1, 99} {
		if slot, notice, _ := r.Join(&Member{}, bad, false); slot != 0 || notice == "" {
			t.Fatalf("slot %d: got slot %d notice %q, want spectator with notice", bad, slot, notice)
		}
	}
	if slot, _, _ := r.Join(&Member{}, 0, false); slot != 1 {
		t.Fatalf("next joiner got %d, want 1", slot)
	}
}

func TestRoomInput(t *testing.T) {
	r := NewRoom(4)
	p1, p2, watcher := &Member{}, &Member{}, &Member{}
	r.Join(p1, 0, false)
	r.Join(p2, 0, false)
	r.Join(watcher, 0, true)

	r.SetInput(p2, stream.Input{Seq: 10, Buttons: emu.ButtonA})
	if r.Buttons(1) != emu.ButtonA || r.Buttons(0) != 0 {
		t.Fatalf("p2's A landed on ports %v %v", r.Buttons(0), r.Buttons(1))
	}
	// A late (reordered) message does not undo a newer one.
	r.SetInput(p2, stream.Input{Seq: 9, Buttons: 0})
	if r.Buttons(1) != emu.ButtonA {
		t.Fatal("stale input was applied")
	}
	// Sequence numbers wrap.
	r.SetInput(p1, stream.Input{Seq: 255, Buttons: emu.ButtonB})
	r.SetInput(p1, stream.Input{Seq: 0, Buttons: emu.ButtonStart})
	if r.Buttons(0) != emu.ButtonStart {
		t.Fatalf("wrapped sequence not applied: %v", r.Buttons(0))
	}
	// Spectators do not play.
	r.SetInput(watcher, stream.Input{Seq: 1, Buttons: emu.ButtonX})
	for port := 0; port < emu.Ports; port++ {
		if r.Buttons(port)&emu.ButtonX != 0 {
			t.Fatalf("spectator input reached port %d", port)
		}
	}
	// Leaving releases the buttons, so a player does not hold A forever.
	r.Leave(p2)
	if r.Buttons(1) != 0 {
		t.Fatal("buttons still held after leave")
	}
	r.SetInput(p2, stream.Input{Seq: 11, Buttons: emu.ButtonA})
	if r.Buttons(1) != 0 {
		t.Fatal("input from a member who left was applied")
	}
}
