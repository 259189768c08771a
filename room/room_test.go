package room

import (
	"errors"
	"slices"
	"testing"
	"time"

	"couchplay/emu"
)

func TestRoomLowestFreeSlotThenSpectators(t *testing.T) {
	r := New(2)
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
	r := New(8)
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
	r := New(4)
	p1, p2, watcher := &Member{}, &Member{}, &Member{}
	r.Join(p1, 0, false)
	r.Join(p2, 0, false)
	r.Join(watcher, 0, true)

	r.SetInput(p2, emu.Input{Seq: 10, Buttons: emu.ButtonA})
	if r.Buttons(1) != emu.ButtonA || r.Buttons(0) != 0 {
		t.Fatalf("p2's A landed on ports %v %v", r.Buttons(0), r.Buttons(1))
	}
	// A late (reordered) message does not undo a newer one.
	r.SetInput(p2, emu.Input{Seq: 9, Buttons: 0})
	if r.Buttons(1) != emu.ButtonA {
		t.Fatal("stale input was applied")
	}
	// Sequence numbers wrap.
	r.SetInput(p1, emu.Input{Seq: 255, Buttons: emu.ButtonB})
	if r.Buttons(0) != emu.ButtonB {
		t.Fatalf("B not applied: %v", r.Buttons(0))
	}
	r.SetInput(p1, emu.Input{Seq: 0, Buttons: emu.ButtonStart})
	if r.Buttons(0) != emu.ButtonStart {
		t.Fatalf("wrapped sequence not applied: %v", r.Buttons(0))
	}
	// Spectators do not play.
	r.SetInput(watcher, emu.Input{Seq: 1, Buttons: emu.ButtonX})
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
	r.SetInput(p2, emu.Input{Seq: 11, Buttons: emu.ButtonA})
	if r.Buttons(1) != 0 {
		t.Fatal("input from a member who left was applied")
	}
}

// A press too short for the frame clock, or whose message was lost, is still
// played for one frame; a press the host already has is not played twice.
func TestRoomShortPresses(t *testing.T) {
	r := New(4)
	p1 := &Member{}
	r.Join(p1, 0, false)
	frame := func() emu.Buttons { return r.Buttons(0) }

	// A tap: down and up between two frames.
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 1, Buttons: emu.ButtonA})
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 2, Previous: emu.ButtonA})
	if got := frame(); got != emu.ButtonA {
		t.Fatalf("a tap between frames: the frame saw %v, want A", got)
	}
	if got := frame(); got != 0 {
		t.Fatalf("the tap is played a second frame: %v", got)
	}
	// The down (seq 3) is lost: the up carries it.
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 4, Previous: emu.ButtonB})
	if got := frame(); got != emu.ButtonB {
		t.Fatalf("a lost down: the frame saw %v, want B from the up's Previous", got)
	}
	if got := frame(); got != 0 {
		t.Fatalf("the lost press is played a second frame: %v", got)
	}
	// No gap: Previous is what the host already played, not a new press.
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 5, Previous: emu.ButtonX})
	if got := frame(); got != 0 {
		t.Fatalf("Previous without a gap was played: %v", got)
	}
	// Reordered: the up (7) before the down (6), which is then dropped.
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 7, Previous: emu.ButtonY})
	r.SetInput(p1, emu.Input{Type: emu.MsgInputPrevious, Seq: 6, Buttons: emu.ButtonY})
	if got := frame(); got != emu.ButtonY {
		t.Fatalf("a reordered press: the frame saw %v, want Y", got)
	}
	// A held button stays held; older message types carry no Previous.
	r.SetInput(p1, emu.Input{Seq: 9, Buttons: emu.ButtonStart})
	r.SetInput(p1, emu.Input{Seq: 11, Buttons: emu.ButtonStart})
	for range 2 {
		if got := frame(); got != emu.ButtonStart {
			t.Fatalf("held Start: %v", got)
		}
	}
}

func TestRoomAnalogInput(t *testing.T) {
	r := New(4)
	p1, p2 := &Member{}, &Member{}
	r.Join(p1, 0, false)
	r.Join(p2, 0, false)
	stick := emu.Analog{LX: -32768, LY: 32767, RX: 100, RY: -100}
	// From the wire bytes, as a page sends them.
	in, err := emu.DecodeInput(emu.EncodeInput(emu.Input{Type: emu.MsgInputAnalog, Seq: 250, Buttons: emu.ButtonA, Analog: stick}))
	if err != nil {
		t.Fatal(err)
	}
	r.SetInput(p2, in)
	if r.Analog(1) != stick || r.Buttons(1) != emu.ButtonA || r.Analog(0) != (emu.Analog{}) {
		t.Fatalf("p2's sticks: port 1 %+v %v, port 0 %+v", r.Analog(1), r.Buttons(1), r.Analog(0))
	}
	// A late message (the channel is unordered) does not move the stick back,
	// across the wrap too.
	r.SetInput(p2, emu.Input{Type: emu.MsgInputAnalog, Seq: 249, Analog: emu.Analog{LX: 1}})
	if r.Analog(1) != stick {
		t.Fatalf("stale sticks applied: %+v", r.Analog(1))
	}
	moved := emu.Analog{LX: 5}
	r.SetInput(p2, emu.Input{Type: emu.MsgInputAnalog, Seq: 2, Analog: moved})
	if r.Analog(1) != moved || r.Buttons(1) != 0 {
		t.Fatalf("wrapped sequence not applied: %+v %v", r.Analog(1), r.Buttons(1))
	}
	// A buttons-only message is the whole pad too: sticks centred.
	r.SetInput(p2, emu.Input{Seq: 3, Buttons: emu.ButtonB})
	if r.Analog(1) != (emu.Analog{}) || r.Buttons(1) != emu.ButtonB {
		t.Fatalf("buttons-only message left %+v %v", r.Analog(1), r.Buttons(1))
	}
	// Leaving centres the sticks, so a player does not steer forever.
	r.SetInput(p2, emu.Input{Type: emu.MsgInputAnalog, Seq: 4, Analog: stick})
	r.Leave(p2)
	if r.Analog(1) != (emu.Analog{}) {
		t.Fatalf("sticks still held after leave: %+v", r.Analog(1))
	}
}

func TestDroppedSlotWaitsForItsPage(t *testing.T) {
	r := New(4)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }

	p1, _, _, _ := rejoin(r, "", 0, false)
	p2, slot2, _, _ := rejoin(r, "", 0, false)
	if slot2 != 2 || p2.Token == "" || p2.Token == p1.Token {
		t.Fatalf("slot %d token %q", slot2, p2.Token)
	}
	r.SetInput(p2, emu.Input{Seq: 1, Buttons: emu.ButtonA})
	r.Drop(p2) // connection lost, no leave

	if r.Buttons(1) != 0 {
		t.Fatal("a dropped player still holds buttons")
	}
	if players, _ := r.Roster(); !slices.Equal(players, []int{1, 2}) {
		t.Fatalf("reserved slot not shown as taken: %v", players)
	}
	// A newcomer does not get the reserved slot.
	other, slot, _, _ := rejoin(r, "", 0, false)
	if slot != 3 {
		t.Fatalf("newcomer got slot %d, want 3", slot)
	}
	// A wrong token is a newcomer too.
	if _, slot, _, _ := rejoin(r, "not-a-token", 0, false); slot != 4 {
		t.Fatalf("wrong token got slot %d, want 4", slot)
	}
	r.Leave(other)

	// The page comes back with its token within the reservation: same slot.
	now = now.Add(ReserveFor - time.Second)
	back, slot, notice, err := rejoin(r, p2.Token, 0, false)
	if err != nil || slot != 2 || notice != "" || back.Token != p2.Token {
		t.Fatalf("rejoin: slot %d notice %q err %v", slot, notice, err)
	}
	r.SetInput(back, emu.Input{Seq: 1, Buttons: emu.ButtonB})
	if r.Buttons(1) != emu.ButtonB {
		t.Fatal("rejoined player's input not applied")
	}
	// The old session's late cleanup does not free the slot it lost.
	r.Drop(p2)
	r.Leave(p2)
	if r.Slot(back) != 2 || r.Buttons(1) != emu.ButtonB {
		t.Fatal("the old connection's cleanup disturbed the rejoined player")
	}
	// A rejoin while the old connection still looks alive (half-open after a
	// Wi-Fi drop) takes the slot too, and the old connection is told.
	var replaced bool
	r.mu.Lock()
	back.replaced = func() { replaced = true }
	r.mu.Unlock()
	again, slot, _, _ := rejoin(r, back.Token, 0, false)
	if slot != 2 || !replaced || r.Slot(back) != 0 || r.Slot(again) != 2 {
		t.Fatalf("takeover: slot %d, old told %v, old slot %d", slot, replaced, r.Slot(back))
	}
}

func rejoin(r *Room, token string, want int, watch bool) (*Member, int, string, error) {
	return r.Rejoin(token, want, watch, nil)
}

func TestReservationExpires(t *testing.T) {
	r := New(4)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	p1, _, _, _ := rejoin(r, "", 0, false)
	r.Drop(p1)
	now = now.Add(ReserveFor)
	if players, _ := r.Roster(); len(players) != 0 {
		t.Fatalf("expired reservation still counted: %v", players)
	}
	// Too late to come back: the old token joins like anyone new (the lowest
	// free slot), and keeps its token.
	if late, slot, _, _ := rejoin(r, p1.Token, 2, false); slot != 2 || late.Token != p1.Token {
		t.Fatalf("late rejoin got slot %d, token kept %v; want the slot it asked for, same token", slot, late.Token == p1.Token)
	}
	if players, _ := r.Roster(); !slices.Equal(players, []int{2}) {
		t.Fatalf("players %v, want [2]: slot 1 is free again", players)
	}
}

// A spectator whose connection drops comes back as a spectator with its token
// (a player the host moved to the spectators stays one after a Wi-Fi blip),
// within ReserveFor; after it, or after a leave, it joins like anyone new.
func TestDroppedSpectatorRejoinsAsSpectator(t *testing.T) {
	r := New(4)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	player, slot, _, err := r.Rejoin("", 0, false, nil)
	if err != nil || slot != 1 {
		t.Fatalf("first join: slot %d, %v", slot, err)
	}
	if _, err := r.MoveToSpectator(1); err != nil {
		t.Fatal(err)
	}
	r.Drop(player)
	back, slot, _, err := r.Rejoin(player.Token, 0, false, nil)
	if err != nil || slot != 0 || back.Token != player.Token {
		t.Fatalf("rejoin after a drop: slot %d token kept %v, %v; want the spectator seat", slot, back.Token == player.Token, err)
	}
	if players, spectators := r.Roster(); len(players) != 0 || spectators != 1 {
		t.Fatalf("roster %v %d, want no player and one spectator", players, spectators)
	}

	// Rejoining while the old connection still looks connected replaces it.
	replaced := false
	back.replaced = func() { replaced = true }
	again, slot, _, _ := r.Rejoin(player.Token, 0, false, nil)
	if slot != 0 || !replaced {
		t.Fatalf("rejoin over a live spectator: slot %d, old told %v", slot, replaced)
	}
	if _, spectators := r.Roster(); spectators != 1 {
		t.Fatalf("%d spectators after a replace, want 1", spectators)
	}

	// Past ReserveFor, or after a leave (a reload), it is still the page the
	// host moved to the spectators: it watches, though slot 1 is free.
	r.Drop(again)
	now = now.Add(ReserveFor)
	back, slot, _, _ = r.Rejoin(player.Token, 0, false, nil)
	if slot != 0 {
		t.Fatalf("rejoin after ReserveFor: slot %d, want a spectator", slot)
	}
	r.Leave(back)
	if _, slot, notice, _ := r.Rejoin(player.Token, 1, false, nil); slot != 0 || notice == "" {
		t.Fatalf("rejoin after a leave asking for slot 1: slot %d notice %q, want a spectator told why", slot, notice)
	}
	if players, _ := r.Roster(); len(players) != 0 {
		t.Fatalf("players %v, want none", players)
	}

	// A spectator by its own choice that left (closed the page) is forgotten at once.
	watcher, _, _, _ := r.Rejoin("", 0, true, nil)
	r.Leave(watcher)
	if _, slot, _, _ := r.Rejoin(watcher.Token, 0, false, nil); slot != 1 {
		t.Fatalf("rejoin after a leave: slot %d, want 1", slot)
	}
	if len(r.watchers) != 0 {
		t.Errorf("%d remembered watchers, want none", len(r.watchers))
	}
}
