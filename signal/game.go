package signal

import (
	"fmt"
	"sync"
	"time"

	"couchplay/emu"
)

// Game library and commands: any session may list the library; only the
// player in slot 1 may start, stop, reset, save or load. Commands run on the
// session's own command goroutine (Console.Play may take seconds for a real
// core), so no socket's reader waits for them; one session's commands run in
// the order it sent them.

// cmdQueueLen bounds the game commands one session may have waiting.
const cmdQueueLen = 4

// libraryEvery: a member gets at most one library reply in this time. A
// request within it is answered when it is over, with one reply for all the
// requests meanwhile, so a page that asks always gets the list and a page
// that floods costs one reply a second.
const libraryEvery = time.Second

// gameInfo is what runs now, for welcome and game messages.
func (s *Server) gameInfo() *GameInfo {
	c := s.cfg.Console
	if c == nil {
		return &GameInfo{State: emu.StateRunning}
	}
	st := c.Status()
	name := st.Info.Name
	if name == "" {
		name = st.Game.Name
	}
	state := st.State
	if state == "" {
		state = emu.StateRunning
	}
	return &GameInfo{Name: name, Width: st.Info.Width, Height: st.Info.Height, ID: st.Game.ID, State: state, Message: st.Message}
}

// welcome queues a welcome with the current game. Under gameMu, so a game
// change broadcast never overtakes it with a newer status that the welcome
// then undoes.
func (ss *session) welcome(msg Message) {
	ss.srv.gameMu.Lock()
	defer ss.srv.gameMu.Unlock()
	msg.Game = ss.srv.gameInfo()
	ss.reply(msg)
}

// broadcastGame tells every session what runs now (Console.OnChange). It
// reads the status afresh, so of two quick changes the last one is sent last.
func (s *Server) broadcastGame() {
	s.gameMu.Lock()
	defer s.gameMu.Unlock()
	msg := Message{Type: TypeGame, Game: s.gameInfo()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.reply(msg)
	}
}

// libraryMessage lists the console's games.
func (s *Server) libraryMessage() (Message, bool) {
	c := s.cfg.Console
	if c == nil {
		return Message{}, false
	}
	games := c.Games()
	list := make([]LibraryGame, len(games))
	for i, g := range games {
		core := g.Core
		if g.CoreWhy != "" {
			core += " (" + g.CoreWhy + ")"
		}
		// Library ids and problems name no host path (emu.Game.Detail does).
		list[i] = LibraryGame{ID: g.ID, Name: g.Name, System: g.System, Core: core, Problem: g.Problem}
	}
	return Message{Type: TypeLibrary, Games: list}, true
}

// sendLibrary answers a library request, at most once per libraryEvery for
// the session's member.
func (ss *session) sendLibrary() {
	if ss.srv.cfg.Console == nil {
		ss.reply(errorMessage(CodeGameFailed, "this host has no game library"))
		return
	}
	var key any = ss
	if ss.member != nil {
		key = ss.member
	}
	ss.srv.libraryTurns.ask(key, libraryEvery, func() {
		select {
		case <-ss.done:
			return // the page went away meanwhile
		default:
		}
		if msg, ok := ss.srv.libraryMessage(); ok {
			ss.reply(msg)
		}
	})
}

// throttle runs at most one send per key in a period: the first at once,
// the others coalesced into one at the period's end. A key is forgotten a
// period after its last send, so nothing piles up.
type throttle struct {
	mu    sync.Mutex
	turns map[any]*turn
	after func(time.Duration, func()) // schedules the period's end (Server.after)
}

func newThrottle(after func(time.Duration, func())) *throttle {
	return &throttle{turns: map[any]*turn{}, after: after}
}

type turn struct {
	pending func() // the latest send asked for within the period
}

func (t *throttle) ask(key any, every time.Duration, send func()) {
	t.mu.Lock()
	if tr, ok := t.turns[key]; ok {
		tr.pending = send
		t.mu.Unlock()
		return
	}
	tr := &turn{}
	t.turns[key] = tr
	t.mu.Unlock()
	send()
	t.expire(key, tr, every)
}

// expire ends tr's period after every: it sends what was asked meanwhile
// (and starts a new period) or forgets the key.
func (t *throttle) expire(key any, tr *turn, every time.Duration) {
	t.after(every, func() {
		t.mu.Lock()
		send := tr.pending
		tr.pending = nil
		if send == nil {
			delete(t.turns, key)
		}
		t.mu.Unlock()
		if send != nil {
			send()
			t.expire(key, tr, every)
		}
	})
}

// isGameCommand reports whether typ is one of player 1's commands.
func isGameCommand(typ string) bool {
	switch typ {
	case TypePlay, TypeStop, TypeReset, TypeSaveState, TypeLoadState:
		return true
	}
	return false
}

// commandVerb words a command for the not_allowed message.
func commandVerb(msg Message) string {
	switch msg.Type {
	case TypePlay:
		return "start a game"
	case TypeStop:
		return "stop the game"
	case TypeReset:
		return "reset the game"
	case TypeSaveState:
		return "save states"
	default:
		return "load states"
	}
}

// gameCommand checks who asks and hands the command to the session's
// command goroutine.
func (ss *session) gameCommand(msg Message) {
	console := ss.srv.cfg.Console
	if ss.srv.room.Slot(ss.member) != 1 {
		ss.reply(errorMessage(CodeNotAllowed, "only player 1 can "+commandVerb(msg)))
		return
	}
	if console == nil {
		ss.reply(errorMessage(CodeGameFailed, "this host cannot change games"))
		return
	}
	ss.cmdStart.Do(func() { ss.srv.track(ss.runCommands) })
	select {
	case ss.cmds <- msg:
	default:
		ss.reply(errorMessage(CodeRateLimited, "too many game commands are waiting; try again in a moment"))
	}
}

// runCommands runs the session's game commands one at a time until it ends.
func (ss *session) runCommands() {
	for {
		select {
		case <-ss.done:
			return
		case msg := <-ss.cmds:
			select {
			case <-ss.done:
				return // the page went away while the command waited
			default:
			}
			ss.runCommand(msg)
		}
	}
}

func (ss *session) runCommand(msg Message) {
	c := ss.srv.cfg.Console
	var err error
	notice := ""
	switch msg.Type {
	case TypePlay:
		err = c.Play(msg.GameID)
	case TypeStop:
		err = c.Stop()
	case TypeReset:
		err = c.Reset()
	case TypeSaveState:
		err = c.SaveState(msg.StateSlot)
		notice = fmt.Sprintf("Saved state %d", msg.StateSlot)
	case TypeLoadState:
		err = c.LoadState(msg.StateSlot)
		notice = fmt.Sprintf("Loaded state %d", msg.StateSlot)
	}
	ss.mu.Lock()
	log := ss.log
	ss.mu.Unlock()
	if err != nil {
		log.Info("game command failed", "command", msg.Type, "game", msg.GameID, "state_slot", msg.StateSlot, "err", err)
		ss.reply(errorMessage(CodeGameFailed, err.Error()))
		return
	}
	log.Info("game command", "command", msg.Type, "game", msg.GameID, "state_slot", msg.StateSlot)
	if notice != "" {
		ss.reply(Message{Type: TypeNotice, Text: notice})
	}
}
