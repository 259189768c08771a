package signal

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"couchplay/emu"
	"couchplay/room"
	"couchplay/stream"
)

const (
	sendQueueLen = 64 // messages waiting for the transport; a client that falls this far behind is dropped
	// errorInterval spaces out repeated bad_input answers so a misbehaving
	// client cannot make the host flood its own socket or log.
	errorInterval = time.Second
)

// session is one browser's signalling conversation, whatever carries it (a
// WebSocket, or HTTP long-polling when a proxy blocks WebSockets). Messages
// from the browser go through receive, one at a time; messages to it are queued
// on send and drained by the transport.
type session struct {
	srv  *Server
	log  *slog.Logger
	ip   string // the client's address, for the join rate limit
	send chan outgoing
	done chan struct{} // closed when the session has ended (or is being ended: stop)
	end  sync.Once
	// stopOnce closes done once, whoever asks first: finish, or stop (an
	// unjoined connection pushed out by newer ones), which leaves finish to
	// the transport's own goroutine.
	stopOnce sync.Once
	opened   time.Time // when the connection opened, for the unjoined share
	// joined is set once the session has a seat; closing once it is being
	// closed without one (pushed out, or the join timeout). Either takes it
	// out of the unjoined share (newSession).
	joined, closing atomic.Bool
	// hostClosed: the host started the WebSocket's close handshake (the code
	// the browser echoes is then the host's own).
	hostClosed atomic.Bool
	// finishAtOnce: the transport has no goroutine of its own that ends the
	// session (long-poll), so one closed without a seat (pushed out, join
	// timeout) is finished at once, its place given back; its last messages
	// wait for a recv. Otherwise stop, and the transport finishes it.
	finishAtOnce bool
	onFinish     func() // runs at the end of finish (long-poll: forget the session soon)
	// release gives back the connection slot the transport took (nil: the
	// transport gives it back itself).
	release   func()
	joinTimer *time.Timer // closes a connection that never joins

	handling sync.Mutex   // one message at a time (poll POSTs may overlap)
	member   *room.Member // set under mu too, for finish
	peer     *stream.Peer // set under mu too, for finish
	// socket: the transport is a WebSocket, which can carry the media too
	// (a join with media "websocket"); viewer is then that media, handed to
	// the socket's writer goroutine through viewerReady.
	socket      bool
	viewer      *stream.SocketViewer // set under mu too, for finish
	viewerReady chan *stream.SocketViewer
	media       string // MediaWebRTC or MediaWebSocket once joined; under mu
	answer      string // the SDP answer applied, so a repeat of it is harmless

	cmds     chan Message // game commands waiting for runCommands
	cmdStart sync.Once    // starts runCommands at the first command

	mu         sync.Mutex
	offered    bool      // the offer is queued, so candidates may follow it
	candidates []Message // local candidates gathered before the offer was queued
	lastError  time.Time // last bad_input answer
	left       bool      // the browser said leave: free the slot, reserve nothing
	// finished is set by finish: from then on join seats nothing and keeps
	// no peer (it releases what it made itself).
	finished bool
}

// outgoing is one entry of the send queue: a message, or the request to end
// the conversation once what is queued before it has been delivered.
type outgoing struct {
	msg         Message
	close       bool
	closeCode   websocket.StatusCode
	closeReason string
}

// newSession registers a session; it fails while the host shuts down. A
// transport that serves it from its own goroutine asks for that goroutine to
// be counted (wg), under the same lock Shutdown sets closing with, so Shutdown
// never waits on a group that can still grow.
//
// A connection that has not joined is in the unjoined share (MaxUnjoinedPerIP,
// MaxUnjoined): past it, the oldest unjoined one of the address, else of
// anyone, is pushed out, so connections that never show a code or key cannot
// fill the connection caps and a page that joins as it opens always can.
func (s *Server) newSession(log *slog.Logger, ip string, counted bool) (*session, error) {
	return s.newSessionWith(log, ip, counted, func(*session) {})
}

// newSessionWith is newSession whose fields (release, finishAtOnce,
// onFinish) set sets before anything else can see the session.
func (s *Server) newSessionWith(log *slog.Logger, ip string, counted bool, set func(*session)) (*session, error) {
	ss := &session{srv: s, log: log, ip: ip, send: make(chan outgoing, sendQueueLen), done: make(chan struct{}),
		cmds: make(chan Message, cmdQueueLen), opened: time.Now(), viewerReady: make(chan *stream.SocketViewer, 1)}
	set(ss)
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil, errors.New("the host is shutting down")
	}
	out := s.overUnjoinedShare(ip)
	s.sessions[ss] = struct{}{}
	if counted {
		s.wg.Add(1)
	}
	ss.joinTimer = time.AfterFunc(s.limits.joinTimeout, ss.joinTimedOut)
	s.mu.Unlock()
	for _, old := range out {
		old.pushOut()
	}
	return ss, nil
}

// overUnjoinedShare picks the unjoined sessions a new one from ip pushes out
// (the oldest of ip's past MaxUnjoinedPerIP-1, then the oldest of all past
// MaxUnjoined-1) and marks them closing; s.mu is held.
func (s *Server) overUnjoinedShare(ip string) []*session {
	var mine, all []*session
	for o := range s.sessions {
		if o.joined.Load() || o.closing.Load() {
			continue
		}
		all = append(all, o)
		if o.ip == ip {
			mine = append(mine, o)
		}
	}
	oldest := func(list []*session) *session {
		var first *session
		for _, o := range list {
			if !o.closing.Load() && (first == nil || o.opened.Before(first.opened)) {
				first = o
			}
		}
		return first
	}
	var out []*session
	take := func(o *session) {
		if o != nil && o.closing.CompareAndSwap(false, true) {
			out = append(out, o)
		}
	}
	if len(mine) >= MaxUnjoinedPerIP {
		take(oldest(mine))
	}
	if len(all)-len(out) >= MaxUnjoined {
		take(oldest(all))
	}
	return out
}

// pushOut ends an unjoined session to make room for a newer one: it is told
// why, and its transport closes it at once (a client that does not read
// must not hold its connection place through a close handshake).
func (ss *session) pushOut() {
	ss.mu.Lock()
	log := ss.log
	ss.mu.Unlock()
	log.Info("closing a signalling connection that has not joined: newer ones are waiting to join", "waited", time.Since(ss.opened).Round(time.Millisecond))
	ss.reply(errorMessage(CodeTooMany, "too many connections are waiting to join; this one waited longest: reload the page"))
	if ss.finishAtOnce {
		ss.finish()
		return
	}
	ss.stop()
}

// stop closes done (once): the transport's writer stops, and its reader
// ends the session with finish.
func (ss *session) stop() { ss.stopOnce.Do(func() { close(ss.done) }) }

// joinTimedOut closes a connection that has held a slot without joining.
func (ss *session) joinTimedOut() {
	ss.mu.Lock()
	idle := ss.member == nil && !ss.finished
	ss.mu.Unlock()
	if !idle || !ss.closing.CompareAndSwap(false, true) {
		return
	}
	ss.log.Info("closing a signalling connection that never joined", "after", ss.srv.limits.joinTimeout)
	ss.reply(errorMessage(CodeJoinTimeout, "this connection sent no join message in time"))
	ss.closeAfterFlush(websocket.StatusPolicyViolation, "no join message in time")
	if ss.finishAtOnce {
		ss.finish() // its place comes back now, whether its client reads this or not
	}
}

// refusalStatus is the WebSocket close code for a refusal: 1008 (policy) for
// one address over its limit, 1013 (try again later) for a host over its total.
func refusalStatus(ref *refusal) websocket.StatusCode {
	if ref.perIP {
		return websocket.StatusPolicyViolation
	}
	return websocket.StatusTryAgainLater
}

// refusalReason is the close reason (at most 123 bytes).
func refusalReason(ref *refusal) string {
	if ref.perIP {
		return "too many connections from your address"
	}
	return "the host has too many connections"
}

// hasLeft reports whether the browser said leave.
func (ss *session) hasLeft() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.left
}

// receive handles one raw message from the browser.
func (ss *session) receive(data []byte) {
	ss.handling.Lock()
	defer ss.handling.Unlock()
	msg, err := DecodeMessage(data)
	if err != nil {
		var perr *ProtocolError
		if errors.As(err, &perr) {
			ss.log.Info("bad signalling message", "code", perr.Code, "err", perr.Text)
			ss.reply(errorMessage(perr.Code, perr.Text))
		}
		return
	}
	ss.handle(msg)
}

func (ss *session) handle(msg Message) {
	switch msg.Type {
	case TypeJoin:
		if ss.member != nil {
			ss.reply(errorMessage(CodeAlreadyJoined, "this connection has joined already"))
			return
		}
		ss.join(msg)
		return
	case TypeLeave:
		ss.log.Info("left")
		ss.mu.Lock()
		ss.left = true
		ss.mu.Unlock()
		ss.finish() // free the slot before the transport says goodbye
		ss.closeAfterFlush(websocket.StatusNormalClosure, "left")
		return
	}
	if ss.member == nil {
		ss.reply(errorMessage(CodeNotJoined, "send a join message first"))
		return
	}
	switch {
	case msg.Type == TypeLibrary:
		ss.sendLibrary()
		return
	case msg.Type == TypeKeyframe:
		if v := ss.mediaViewer(); v != nil {
			v.RequestKeyframe()
		}
		return
	case isGameCommand(msg.Type):
		ss.gameCommand(msg)
		return
	}
	if ss.peer == nil {
		ss.reply(errorMessage(CodeNotJoined, "send a join message first"))
		return
	}
	switch msg.Type {
	case TypeAnswer:
		if ss.answer != "" && msg.SDP == ss.answer {
			// A retried send (a poll POST whose response was lost): applied already.
			ss.log.Debug("ignored a repeat of the answer already applied")
			return
		}
		if err := ss.peer.SetAnswer(msg.SDP); err != nil {
			ss.log.Warn("bad SDP answer", "err", err)
			ss.reply(errorMessage(CodeWebRTC, "the host could not use the browser's answer: "+err.Error()))
			return
		}
		ss.answer = msg.SDP
	case TypeCandidate:
		if msg.Candidate == nil || msg.Candidate.Candidate == "" {
			return // end of candidates
		}
		if err := ss.peer.AddCandidate(*msg.Candidate); err != nil {
			ss.reply(errorMessage(CodeBadCandidate, "the host could not use an ICE candidate: "+err.Error()))
		}
	}
}

func (ss *session) join(msg Message) {
	srv := ss.srv
	if msg.Media == MediaWebSocket && !ss.socket {
		// Before any seat is taken: the page can say why and stop.
		ss.reply(errorMessage(CodeBadMessage, "media over the WebSocket needs a WebSocket connection; this one is HTTP long-polling (a proxy drops the Upgrade headers)"))
		return
	}
	// The access check comes first, with its own limits (room/access.go): a
	// join that shows no code, or a wrong one, builds nothing, so it takes
	// nothing from the join-attempt buckets that joins with the key use.
	ok, byToken := ss.admitJoin(msg)
	if !ok {
		return // answered; the page may join again with the code
	}
	if !byToken && srv.room.Kicked(msg.Token) {
		msg.Token = "" // a kicked page the host let in again (the code or the new key): a fresh start
	}
	if ref := srv.joins.allow(ss.ip); ref != nil {
		ss.log.Warn("join refused", "reason", ref.text)
		ss.reply(errorMessage(CodeTooMany, ref.text))
		ss.closeAfterFlush(refusalStatus(ref), "too many join attempts")
		return
	}
	member, slot, notice, err := srv.room.Rejoin(msg.Token, msg.Slot, msg.Watch, ss.replacedByRejoin)
	if errors.Is(err, room.ErrKicked) {
		ss.log.Info("join refused: the host kicked this page")
		ss.reply(errorMessage(CodeKicked, KickedText))
		ss.closeAfterFlush(websocket.StatusPolicyViolation, "removed by the host")
		return
	}
	if err != nil {
		ss.log.Warn("join refused", "err", err)
		ss.reply(errorMessage(CodeFull, err.Error()))
		ss.closeAfterFlush(websocket.StatusTryAgainLater, "room full")
		return
	}
	// Under the lock finish takes: a session that finished (queue overflow,
	// poll idle, shutdown) before or while it joined keeps no seat.
	ss.mu.Lock() // replacedByRejoin may read log from another session's goroutine
	if ss.finished {
		ss.mu.Unlock()
		if msg.Token != "" && member.Token == msg.Token {
			srv.room.Drop(member) // the page's own slot: still reserved for its token
		} else {
			srv.room.Leave(member)
		}
		srv.broadcastRoster()
		return
	}
	ss.member = member
	ss.media = MediaWebRTC
	if msg.Media == MediaWebSocket {
		ss.media = MediaWebSocket
	}
	ss.joined.Store(true)
	ss.log = ss.log.With("slot", slot)
	ss.mu.Unlock()
	if a := srv.room.Access(); a != nil {
		a.Admit(member.Token) // its reconnects need no code
	}
	ss.joinTimer.Stop()
	role := RolePlayer
	if slot == 0 {
		role = RoleSpectator
	}
	media := ss.media
	ss.log.Info("joined", "role", role, "asked_slot", msg.Slot, "watch", msg.Watch, "rejoined", msg.Token != "" && msg.Token == member.Token,
		"controller", msg.Controller, "audio_path", msg.AudioPath, "media", media)
	ss.welcome(Message{Type: TypeWelcome, Slot: slot, Role: role, Token: member.Token, Notice: notice})
	if slot == 1 {
		if lib, ok := srv.libraryMessage(); ok {
			ss.reply(lib) // player 1 runs the console: the Games panel needs the list
		}
	}
	srv.broadcastRoster()
	if media == MediaWebSocket {
		ss.startSocketMedia(msg.Controller && slot != 0)
		return
	}

	opt := stream.PeerOptions{
		NoVideo:      msg.Controller && slot != 0,
		AudioChannel: msg.AudioPath == AudioPathDataChannel,
		Spectator:    slot == 0,
	}
	peer, offer, err := srv.hub.NewPeerWith(opt, stream.PeerEvents{
		Candidate: ss.localCandidate,
		Input:     ss.input,
		// A peer that fails or ends by itself ends the session, which frees a
		// spectator seat and reserves a player's slot for the page's token
		// (its rejoin gets it back with a fresh peer).
		Failed: func(reason string) {
			ss.log.Warn("peer failed", "reason", reason)
			ss.reply(errorMessage(CodeWebRTC, reason))
			ss.peerEnded()
		},
		Closed: ss.peerEnded,
	})
	if err != nil {
		ss.streamFailed("the WebRTC peer", err)
		return
	}
	if !ss.adopt(func() { ss.peer = peer }, peer.Close) {
		return
	}
	ss.reply(Message{Type: TypeOffer, SDP: offer})
	ss.mu.Lock()
	ss.offered = true
	pending := ss.candidates
	ss.candidates = nil
	ss.mu.Unlock()
	for _, c := range pending {
		ss.reply(c)
	}
}

// mediaViewer is the session's WebSocket media, or nil.
func (ss *session) mediaViewer() *stream.SocketViewer {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.viewer
}

// startSocketMedia makes the session's media a SocketViewer and hands it to
// the socket's writer goroutine; noVideo: sound only (controller mode).
func (ss *session) startSocketMedia(noVideo bool) {
	v, err := ss.srv.hub.NewSocketViewer(noVideo)
	if err != nil {
		ss.streamFailed("the WebSocket media", err)
		return
	}
	if ss.adopt(func() { ss.viewer = v }, v.Close) {
		ss.viewerReady <- v // cap 1, and a session joins once
	}
}

// streamFailed tells the page its stream could not start, and ends the session.
func (ss *session) streamFailed(what string, err error) {
	ss.log.Error("cannot start "+what, "err", err)
	ss.reply(errorMessage(CodeWebRTC, "the host could not start the stream: "+err.Error()))
	ss.closeAfterFlush(websocket.StatusInternalError, "no stream")
}

// adopt keeps what join made (set, under mu) unless the session finished
// meanwhile: then finish has run without it, so it is released here.
func (ss *session) adopt(set, release func()) bool {
	ss.mu.Lock()
	if ss.finished {
		ss.mu.Unlock()
		release()
		return false
	}
	set()
	ss.mu.Unlock()
	return true
}

// peerGrace is how long a session outlives its peer before it ends: a page
// that is closing tears down its PeerConnection as it sends leave, and the
// leave must still be read (a leave frees a player's slot at once, an end
// without one reserves it for room.ReserveFor).
const peerGrace = 2 * time.Second

// peerEnded ends, after peerGrace, the session of a peer that failed or closed
// by itself.
func (ss *session) peerEnded() {
	ss.mu.Lock()
	over := ss.finished
	ss.mu.Unlock()
	if over {
		return // finish closed it
	}
	ss.srv.after(peerGrace, func() {
		ss.mu.Lock()
		over := ss.finished
		ss.mu.Unlock()
		if over {
			return
		}
		ss.log.Info("the video connection ended; ending the session")
		ss.closeAfterFlush(websocket.StatusGoingAway, "the video connection ended")
	})
}

// replacedByRejoin ends this session: its page (or a copy of it with the same
// token) came back on another connection and took the slot.
func (ss *session) replacedByRejoin() {
	ss.mu.Lock()
	log := ss.log
	ss.mu.Unlock()
	log.Info("replaced by a rejoin with the same session token")
	ss.reply(errorMessage(CodeReplaced, "Another connection with this page's session took over the player slot."))
	ss.closeAfterFlush(websocket.StatusPolicyViolation, "replaced")
}

// localCandidate trickles a host candidate, after the offer it belongs to.
func (ss *session) localCandidate(c webrtc.ICECandidateInit) {
	msg := Message{Type: TypeCandidate, Candidate: &c}
	ss.mu.Lock()
	if !ss.offered {
		ss.candidates = append(ss.candidates, msg)
		ss.mu.Unlock()
		return
	}
	ss.mu.Unlock()
	ss.reply(msg)
}

// input handles one data channel message (on pion's goroutine).
func (ss *session) input(data []byte) {
	in, err := emu.DecodeInput(data)
	if err != nil {
		ss.mu.Lock()
		quiet := time.Since(ss.lastError) < errorInterval
		if !quiet {
			ss.lastError = time.Now()
		}
		ss.mu.Unlock()
		if !quiet {
			ss.log.Warn("bad input packet", "err", err)
			ss.reply(errorMessage(CodeBadInput, err.Error()))
		}
		return
	}
	ss.srv.room.SetInput(ss.member, in)
}

// finish ends the session once: the peer closes and the slot is freed, or,
// when the connection dropped without a leave, kept for the page's token so a
// reconnect gets it back. Transports call it when their connection ends.
func (ss *session) finish() {
	ss.end.Do(func() {
		ss.stop()
		if ss.joinTimer != nil {
			ss.joinTimer.Stop()
		}
		ss.mu.Lock()
		ss.finished = true
		peer, viewer, member, left := ss.peer, ss.viewer, ss.member, ss.left
		ss.mu.Unlock()
		if peer != nil {
			peer.Close()
		}
		if viewer != nil {
			viewer.Close()
		}
		ss.srv.mu.Lock()
		delete(ss.srv.sessions, ss)
		ss.srv.mu.Unlock()
		if member != nil {
			if left {
				ss.srv.room.Leave(member)
			} else {
				ss.srv.room.Drop(member)
			}
			ss.srv.broadcastRoster()
		}
		if ss.release != nil {
			ss.release()
		}
		if ss.onFinish != nil {
			ss.onFinish()
		}
	})
}

// reply queues a message for the transport. A client whose queue is full is
// not reading: it is dropped rather than let to hold memory.
func (ss *session) reply(msg Message) { ss.enqueue(outgoing{msg: msg}) }

func (ss *session) enqueue(out outgoing) {
	select {
	case ss.send <- out:
	default:
		ss.log.Warn("dropping a client that stopped reading")
		ss.srv.track(ss.finish) // not on the caller's goroutine: it may hold session locks
	}
}

// closeAfterFlush lets the transport deliver what is queued, then end.
func (ss *session) closeAfterFlush(code websocket.StatusCode, reason string) {
	ss.enqueue(outgoing{close: true, closeCode: code, closeReason: reason})
}

func (s *Server) broadcastRoster() {
	players, spectators := s.room.Roster()
	msg := Message{Type: TypeRoster, Players: players, Spectators: &spectators}
	s.mu.Lock()
	defer s.mu.Unlock()
	for ss := range s.sessions {
		ss.reply(msg)
	}
}
