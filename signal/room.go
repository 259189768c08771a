package signal

import (
	"errors"
	"fmt"
	"sync"

	"couchplay/emu"
	"couchplay/stream"
)

// ErrRoomFull means every player slot and spectator seat is taken.
var ErrRoomFull = errors.New("the room is full: all 4 player slots and every spectator seat are taken")

// Member is one browser in the room.
type Member struct {
	Token string
	slot  int // 1–4, or 0 for a spectator; guarded by Room.mu

	lastSeq uint8 // newest input sequence number applied; guarded by Room.mu
	seqSeen bool
}

// Room allocates player slots 1–4 (libretro ports 0–3) and spectator seats, and
// holds the newest button state of each port for the frame loop.
type Room struct {
	mu            sync.Mutex
	slots         [emu.Ports]*Member
	spectators    map[*Member]struct{}
	maxSpectators int
	buttons       [emu.Ports]emu.Buttons
}

// NewRoom makes an empty room.
func NewRoom(maxSpectators int) *Room {
	return &Room{spectators: map[*Member]struct{}{}, maxSpectators: maxSpectators}
}

// Join seats m: in slot want (1–4) if asked and free, else the lowest free slot,
// or as a spectator when watch is set or every slot is taken. notice explains
// why m did not get what it asked for.
func (r *Room) Join(m *Member, want int, watch bool) (slot int, notice string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if watch {
		return r.seatSpectator(m, "")
	}
	if want >= 1 && want <= emu.Ports {
		if r.slots[want-1] == nil {
			r.slots[want-1] = m
			m.slot = want
			return want, "", nil
		}
		return r.seatSpectator(m, fmt.Sprintf("Player slot %d is taken; you are watching.", want))
	}
	if want > 0 {
		return r.seatSpectator(m, fmt.Sprintf("There is no player slot %d (slots are 1 to %d); you are watching.", want, emu.Ports))
	}
	if want < 0 {
		return r.seatSpectator(m, fmt.Sprintf("There is no such player slot (slots are 1 to %d); you are watching.", emu.Ports))
	}
	for i, holder := range r.slots {
		if holder == nil {
			r.slots[i] = m
			m.slot = i + 1
			return i + 1, "", nil
		}
	}
	return r.seatSpectator(m, "All 4 player slots are taken; you are watching.")
}

func (r *Room) seatSpectator(m *Member, notice string) (int, string, error) {
	if len(r.spectators) >= r.maxSpectators {
		return 0, "", ErrRoomFull
	}
	r.spectators[m] = struct{}{}
	m.slot = 0
	return 0, notice, nil
}

// Leave frees m's slot or seat and releases its buttons.
func (r *Room) Leave(m *Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.slot > 0 && r.slots[m.slot-1] == m {
		r.slots[m.slot-1] = nil
		r.buttons[m.slot-1] = 0
	}
	delete(r.spectators, m)
	m.slot = 0
}

// SetInput applies an input message from m. Spectators' input and messages
// that arrive after a newer one (the channel is unordered) are ignored.
func (r *Room) SetInput(m *Member, in stream.Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.slot == 0 || r.slots[m.slot-1] != m {
		return
	}
	if m.seqSeen && !stream.Newer(in.Seq, m.lastSeq) {
		return
	}
	m.lastSeq, m.seqSeen = in.Seq, true
	r.buttons[m.slot-1] = in.Buttons
}

// Buttons is the newest state of port (emu.InputSource).
func (r *Room) Buttons(port int) emu.Buttons {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.buttons[port]
}

// Slot is m's current slot (0: spectator).
func (r *Room) Slot(m *Member) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return m.slot
}

// Roster lists the occupied slots and counts the spectators.
func (r *Room) Roster() (players []int, spectators int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	players = []int{}
	for i, holder := range r.slots {
		if holder != nil {
			players = append(players, i+1)
		}
	}
	return players, len(r.spectators)
}
