// Package room decides who may play where: player slots 1–4 (libretro ports
// 0–3), spectator seats, reservations for reconnecting pages, kicks, and in
// code mode the room code, join key and the wrong-code rate limit (access.go).
package room

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"couchplay/emu"
)

// ErrRoomFull means every player slot and spectator seat is taken.
var ErrRoomFull = errors.New("the room is full: all 4 player slots and every spectator seat are taken")

// ErrKicked refuses a rejoin with the session token of a page the host kicked.
var ErrKicked = errors.New("the host removed this page from the game")

// maxPages caps the session tokens whose page the room remembers (the oldest go first).
const maxPages = 4096

// page is what the host decided about one page (one session token, which
// the page keeps for as long as the host runs: Rejoin hands it back).
type page struct {
	kicked  bool // Kick: its token lets it in no more
	benched bool // MoveToSpectator: it rejoins as a spectator, reload or not
}

// ReserveFor is how long a player's slot waits for its page to reconnect after
// the connection dropped without a leave (Wi-Fi blip, phone screen locked).
const ReserveFor = 20 * time.Second

// Member is one browser in the room.
type Member struct {
	Token string
	slot  int // 1–4, or 0 for a spectator; guarded by Room.mu
	// reservedUntil is set while the slot waits for this member to reconnect.
	reservedUntil time.Time
	// replaced is called (outside the room's lock) when a rejoin with this
	// member's token takes its slot while it still looks connected.
	replaced func()

	lastSeq uint8 // newest input sequence number applied; guarded by Room.mu
	seqSeen bool
}

// Room allocates player slots 1–4 (libretro ports 0–3) and spectator seats, and
// holds the newest pad state (buttons, sticks) of each port for the frame loop.
type Room struct {
	mu            sync.Mutex
	slots         [emu.Ports]*Member
	spectators    map[*Member]struct{}
	maxSpectators int
	// watchers are the tokens of spectators whose connection dropped, and
	// until when a rejoin with one is seated as a spectator again (a host
	// that moved a player to the spectators means it, Wi-Fi blip or not).
	watchers map[string]time.Time
	pads     [emu.Ports]pad
	now      func() time.Time // injected by tests
	access   *Access          // nil: open access
	// pages are the session tokens the room gave out, and what the host
	// decided about each (kicked, moved to the spectators); pageOrder is
	// oldest first, for the cap.
	pages     map[string]*page
	pageOrder []string
}

// New makes an empty room with room for maxSpectators spectators.
func New(maxSpectators int) *Room {
	return &Room{spectators: map[*Member]struct{}{}, watchers: map[string]time.Time{}, maxSpectators: maxSpectators, now: time.Now,
		pages: map[string]*page{}}
}

// SetAccess puts the room in code mode (nil: open). Call it before serving.
func (r *Room) SetAccess(a *Access) { r.access = a }

// Access is the room's code mode, or nil when anyone may join.
func (r *Room) Access() *Access { return r.access }

// ErrNoPlayer means the host asked to move or kick a slot nobody holds.
var ErrNoPlayer = errors.New("nobody holds that player slot")

// Kick frees player slot (1–4) and returns who held it (its session is told
// by the caller). The page stays out until the host lets it in: its token
// (the only one it has: Rejoin keeps a page's token) gets ErrKicked from
// then on, and in code mode it is revoked and the join key replaced, so
// neither the token nor the QR code the page scanned lets it in; the code or
// the new QR code the host shows does. The other pages keep their tokens.
func (r *Room) Kick(slot int) (*Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.takeSlot(slot)
	if err != nil {
		return nil, err
	}
	if m.Token != "" {
		r.pageOf(m.Token).kicked = true
		delete(r.watchers, m.Token)
	}
	if r.access != nil {
		r.access.Revoke(m.Token)
		r.access.NewKey()
	}
	return m, nil
}

// Kicked reports whether token is that of a page the host kicked.
func (r *Room) Kicked(token string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pages[token]
	return p != nil && p.kicked
}

// pageOf is token's page, remembered from now on; r.mu is held.
func (r *Room) pageOf(token string) *page {
	if p := r.pages[token]; p != nil {
		return p
	}
	if len(r.pageOrder) >= maxPages {
		delete(r.pages, r.pageOrder[0])
		r.pageOrder = r.pageOrder[1:]
	}
	p := &page{}
	r.pages[token] = p
	r.pageOrder = append(r.pageOrder, token)
	return p
}

// MoveToSpectator makes the player in slot (1–4) a spectator, freeing the
// slot, and returns it. A player whose page is away (reserved slot) just
// loses the slot. Either way its page rejoins as a spectator from then on,
// after a reload too (its token is remembered as benched).
func (r *Room) MoveToSpectator(slot int) (*Member, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := r.takeSlot(slot)
	if err != nil {
		return nil, err
	}
	if m.Token != "" {
		r.pageOf(m.Token).benched = true
	}
	if m.reservedUntil.IsZero() {
		r.spectators[m] = struct{}{} // the host's choice: not limited by maxSpectators
	}
	return m, nil
}

// takeSlot frees player slot (1–4) and returns who held it; r.mu is held.
func (r *Room) takeSlot(slot int) (*Member, error) {
	if slot < 1 || slot > emu.Ports {
		return nil, fmt.Errorf("there is no player slot %d", slot)
	}
	m := r.holder(slot - 1)
	if m == nil {
		return nil, ErrNoPlayer
	}
	r.slots[slot-1] = nil
	r.pads[slot-1] = pad{}
	m.slot = 0
	return m, nil
}

// holder is who occupies slot index i, treating an expired reservation as free.
func (r *Room) holder(i int) *Member {
	m := r.slots[i]
	if m != nil && !m.reservedUntil.IsZero() && !r.now().Before(m.reservedUntil) {
		r.slots[i] = nil
		m.slot = 0
		return nil
	}
	return m
}

// Rejoin seats a browser. With the token of a player slot it gets that slot
// back — whether the old connection was seen to drop or not (a phone that lost
// Wi-Fi leaves a half-open socket the host notices only at the next ping), and
// the old connection is told it was replaced; with watch it gives that slot
// up and watches. A spectator's token gets its seat back (rejoinWatcher), and
// the token of a page the host moved to the spectators a spectator seat. A
// page keeps its token: one the room gave out that holds nothing joins as new
// (Join) with it, so the host's decisions about the page (Kick,
// MoveToSpectator) follow it; a token the room never gave gets a fresh one.
// A kicked page's token gets ErrKicked.
func (r *Room) Rejoin(token string, want int, watch bool, replaced func()) (m *Member, slot int, notice string, err error) {
	r.mu.Lock()
	p := r.pages[token]
	if token == "" || p == nil {
		token = NewToken()
		p = r.pageOf(token)
	} else if p.kicked {
		r.mu.Unlock()
		return nil, 0, "", ErrKicked
	}
	m = &Member{Token: token, replaced: replaced}
	for i := range r.slots {
		old := r.holder(i)
		if old == nil || old.Token != token {
			continue
		}
		old.slot = 0
		wasConnected := old.reservedUntil.IsZero()
		r.pads[i] = pad{}
		if watch {
			r.slots[i] = nil
			r.spectators[m] = struct{}{} // traded its slot: not limited by maxSpectators
		} else {
			m.slot = i + 1
			r.slots[i] = m // a fresh Member, so the old session's late Leave/Drop is a no-op
		}
		r.mu.Unlock()
		if wasConnected && old.replaced != nil {
			old.replaced()
		}
		return m, m.slot, "", nil
	}
	if ok := r.rejoinWatcher(m); ok {
		return m, 0, "", nil
	}
	if p.benched {
		r.spectators[m] = struct{}{} // the host's choice: not limited by maxSpectators
		r.mu.Unlock()
		if watch {
			return m, 0, "", nil
		}
		return m, 0, "The host moved you to the spectators.", nil
	}
	slot, notice, err = r.join(m, want, watch)
	r.mu.Unlock()
	return m, slot, notice, err
}

// rejoinWatcher seats m, a spectator that comes back with its token, as a
// spectator again. r.mu is held; it is released when ok.
func (r *Room) rejoinWatcher(m *Member) (ok bool) {
	var old *Member
	for s := range r.spectators {
		if s.Token == m.Token {
			old = s
			break
		}
	}
	until, dropped := r.watchers[m.Token]
	delete(r.watchers, m.Token) // used now, or expired
	if old == nil && (!dropped || !r.now().Before(until)) {
		return false
	}
	if old != nil { // still looks connected: the old session is told it was replaced
		delete(r.spectators, old)
	}
	r.spectators[m] = struct{}{} // its seat was its own: not limited by maxSpectators again
	r.mu.Unlock()
	if old != nil && old.replaced != nil {
		old.replaced()
	}
	return true
}

// Join seats m: in slot want (1–4) if asked and free, else the lowest free slot,
// or as a spectator when watch is set or every slot is taken. notice explains
// why m did not get what it asked for.
func (r *Room) Join(m *Member, want int, watch bool) (slot int, notice string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.join(m, want, watch)
}

// join is Join with r.mu held.
func (r *Room) join(m *Member, want int, watch bool) (slot int, notice string, err error) {
	if watch {
		return r.seatSpectator(m, "")
	}
	if want >= 1 && want <= emu.Ports {
		if r.holder(want-1) == nil {
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
	for i := range r.slots {
		if r.holder(i) == nil {
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
		r.pads[m.slot-1] = pad{}
	}
	delete(r.spectators, m)
	m.slot = 0
}

// Drop is Leave for a connection that ended without a leave: a player's slot
// stays reserved for ReserveFor so the page can reconnect to it (Rejoin).
func (r *Room) Drop(m *Member) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.slot > 0 && r.slots[m.slot-1] == m {
		m.reservedUntil = r.now().Add(ReserveFor)
		r.pads[m.slot-1] = pad{}
		return
	}
	if _, ok := r.spectators[m]; ok && m.Token != "" {
		now := r.now()
		for token, until := range r.watchers { // keeps the map as small as the recent drops
			if !now.Before(until) {
				delete(r.watchers, token)
			}
		}
		r.watchers[m.Token] = now.Add(ReserveFor)
	}
	delete(r.spectators, m)
	m.slot = 0
}

// SetInput applies an input message from m. Spectators' input and messages
// that arrive after a newer one (the channel is unordered) are ignored.
func (r *Room) SetInput(m *Member, in emu.Input) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m.slot == 0 || r.slots[m.slot-1] != m || !m.reservedUntil.IsZero() {
		return
	}
	if m.seqSeen && !emu.Newer(in.Seq, m.lastSeq) {
		return
	}
	// The message before this one never came (or comes late, to be dropped):
	// what it held may be a press that is already over, carried here.
	missed := m.seqSeen && in.Seq != m.lastSeq+1 && in.Type == emu.MsgInputPrevious
	m.lastSeq, m.seqSeen = in.Seq, true
	p := &r.pads[m.slot-1]
	pressed := in.Buttons &^ p.buttons
	if missed {
		pressed |= in.Previous &^ p.buttons
	}
	// Each message is the whole pad: a buttons-only one means centred sticks.
	p.buttons, p.analog = in.Buttons, in.Analog
	p.pressed |= pressed
}

// pad is the newest input of one port.
type pad struct {
	buttons emu.Buttons
	analog  emu.Analog
	// pressed: buttons pressed since the loop last read the pad. A press
	// shorter than a frame (a tap, or a down whose every copy was lost and
	// which only the up's Previous told of) is still played for one frame.
	pressed emu.Buttons
}

// Buttons is the newest button state of port, with any press made since the
// last call (emu.InputSource: the loop calls it once a frame).
func (r *Room) Buttons(port int) emu.Buttons {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := &r.pads[port]
	b := p.buttons | p.pressed
	p.pressed = 0
	return b
}

// Analog is the newest stick state of port (emu.InputSource).
func (r *Room) Analog(port int) emu.Analog {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pads[port].analog
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
	for i := range r.slots {
		if r.holder(i) != nil {
			players = append(players, i+1)
		}
	}
	return players, len(r.spectators)
}

// Reserved lists the player slots held for a page whose connection dropped
// (it may come back within ReserveFor); each is also in Roster's players.
func (r *Room) Reserved() []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	slots := []int{}
	for i := range r.slots {
		if m := r.holder(i); m != nil && !m.reservedUntil.IsZero() {
			slots = append(slots, i+1)
		}
	}
	return slots
}

// NewToken is a random 128-bit hex token: the one generator for session
// tokens, join keys, page keys and session ids.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
