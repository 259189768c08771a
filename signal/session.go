package signal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/pion/webrtc/v4"

	"couchplay/stream"
)

const (
	pingInterval = 20 * time.Second
	pingTimeout  = 10 * time.Second
	writeTimeout = 10 * time.Second
	sendQueueLen = 64 // messages waiting for the writer; a socket that falls this far behind is closed
	// errorInterval spaces out repeated bad_input answers so a misbehaving
	// client cannot make the host flood its own socket or log.
	errorInterval = time.Second
)

// session is one browser's WebSocket: the HTTP handler goroutine reads, one
// writer goroutine writes (galene's pattern), and all state changes go through
// the reader so they need no locking beyond the candidate queue.
type session struct {
	srv    *Server
	conn   *websocket.Conn
	log    *slog.Logger
	send   chan outgoing
	cancel context.CancelFunc
	left   sync.Once

	member *Member
	peer   *stream.Peer

	mu         sync.Mutex
	offered    bool      // the offer is queued, so candidates may follow it
	candidates []Message // local candidates gathered before the offer was queued
	lastError  time.Time // last bad_input answer
}

func (s *Server) serveSession(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		OriginPatterns:  s.cfg.TrustedOrigins,
		CompressionMode: websocket.CompressionContextTakeover,
	})
	if err != nil {
		// Accept has answered (403 for a foreign Origin, 400 for a bad handshake).
		s.log.Warn("WebSocket handshake refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "host", r.Host, "err", err)
		return
	}
	conn.SetReadLimit(ReadLimit)
	ctx, cancel := context.WithCancel(context.Background())
	ss := &session{
		srv: s, conn: conn, cancel: cancel, send: make(chan outgoing, sendQueueLen),
		log: s.log.With("remote", r.RemoteAddr),
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		cancel()
		conn.Close(websocket.StatusGoingAway, "the host is shutting down")
		return
	}
	s.sessions[ss] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		ss.writeLoop(ctx)
	}()
	ss.readLoop(ctx)

	ss.leave()
	cancel()
	<-writerDone
	conn.CloseNow()
	s.mu.Lock()
	delete(s.sessions, ss)
	s.mu.Unlock()
}

func (ss *session) readLoop(ctx context.Context) {
	for {
		typ, data, err := ss.conn.Read(ctx)
		if err != nil {
			status := websocket.CloseStatus(err)
			switch {
			case status == websocket.StatusMessageTooBig:
				ss.log.Warn("closed a socket that sent a message over the size limit", "limit", ReadLimit)
			case status == -1 && !errors.Is(err, context.Canceled):
				ss.log.Debug("socket read ended", "err", err)
			}
			return
		}
		if typ != websocket.MessageText {
			ss.reply(errorMessage(CodeBadMessage, "signalling messages are JSON text, not binary"))
			continue
		}
		msg, err := DecodeMessage(data)
		if err != nil {
			var perr *ProtocolError
			if errors.As(err, &perr) {
				ss.log.Info("bad signalling message", "code", perr.Code, "err", perr.Text)
				ss.reply(errorMessage(perr.Code, perr.Text))
				continue
			}
			return
		}
		if !ss.handle(msg) {
			return
		}
	}
}

// handle acts on one message; false ends the session.
func (ss *session) handle(msg Message) bool {
	switch msg.Type {
	case TypeJoin:
		if ss.member != nil {
			ss.reply(errorMessage(CodeAlreadyJoined, "this socket has joined already"))
			return true
		}
		return ss.join(msg)
	case TypeLeave:
		ss.log.Info("left")
		ss.leave() // free the slot before the close handshake
		ss.conn.Close(websocket.StatusNormalClosure, "left")
		return false
	}
	if ss.peer == nil {
		ss.reply(errorMessage(CodeNotJoined, "send a join message first"))
		return true
	}
	switch msg.Type {
	case TypeAnswer:
		if err := ss.peer.SetAnswer(msg.SDP); err != nil {
			ss.log.Warn("bad SDP answer", "err", err)
			ss.reply(errorMessage(CodeWebRTC, "the host could not use the browser's answer: "+err.Error()))
		}
	case TypeCandidate:
		if msg.Candidate == nil || msg.Candidate.Candidate == "" {
			return true // end of candidates
		}
		if err := ss.peer.AddCandidate(*msg.Candidate); err != nil {
			ss.reply(errorMessage(CodeBadCandidate, "the host could not use an ICE candidate: "+err.Error()))
		}
	}
	return true
}

func (ss *session) join(msg Message) bool {
	srv := ss.srv
	ss.member = &Member{Token: newToken()}
	slot, notice, err := srv.room.Join(ss.member, msg.Slot, msg.Watch)
	if err != nil {
		ss.member = nil
		ss.log.Warn("join refused", "err", err)
		ss.reply(errorMessage(CodeFull, err.Error()))
		ss.closeAfterFlush(websocket.StatusTryAgainLater, "room full")
		return true // keep reading until the close handshake ends the socket
	}
	role := RolePlayer
	if slot == 0 {
		role = RoleSpectator
	}
	ss.log = ss.log.With("slot", slot)
	ss.log.Info("joined", "role", role, "asked_slot", msg.Slot, "watch", msg.Watch)
	game := srv.cfg.Game
	ss.reply(Message{Type: TypeWelcome, Slot: slot, Role: role, Token: ss.member.Token, Notice: notice,
		Game: &GameInfo{Name: game.Name, Width: game.Width, Height: game.Height}})
	srv.broadcastRoster()

	peer, offer, err := srv.hub.NewPeer(stream.PeerEvents{
		Candidate: ss.localCandidate,
		Input:     ss.input,
		Failed: func(reason string) {
			ss.log.Warn("peer failed", "reason", reason)
			ss.reply(errorMessage(CodeWebRTC, reason))
		},
	})
	if err != nil {
		ss.log.Error("cannot create peer", "err", err)
		ss.reply(errorMessage(CodeWebRTC, "the host could not start the stream: "+err.Error()))
		ss.closeAfterFlush(websocket.StatusInternalError, "no stream")
		return true
	}
	ss.peer = peer
	ss.reply(Message{Type: TypeOffer, SDP: offer})
	ss.mu.Lock()
	ss.offered = true
	pending := ss.candidates
	ss.candidates = nil
	ss.mu.Unlock()
	for _, c := range pending {
		ss.reply(c)
	}
	return true
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
	in, err := stream.DecodeInput(data)
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

// leave frees the slot and the peer, once: on a leave message or when the socket ends.
func (ss *session) leave() {
	ss.left.Do(func() {
		if ss.peer != nil {
			ss.peer.Close()
		}
		if ss.member != nil {
			ss.srv.room.Leave(ss.member)
			ss.srv.broadcastRoster()
		}
	})
}

// outgoing is one entry of the writer's queue: a message, or a request to close.
type outgoing struct {
	msg         Message
	close       bool
	closeCode   websocket.StatusCode
	closeReason string
}

// reply queues a message for the writer. A socket whose queue is full is not
// reading: it is closed rather than let to hold memory.
func (ss *session) reply(msg Message) { ss.enqueue(outgoing{msg: msg}) }

func (ss *session) enqueue(out outgoing) {
	select {
	case ss.send <- out:
	default:
		ss.log.Warn("closing a socket that stopped reading")
		ss.conn.CloseNow()
	}
}

// closeAfterFlush lets the writer send what is queued, then closes.
func (ss *session) closeAfterFlush(code websocket.StatusCode, reason string) {
	ss.enqueue(outgoing{close: true, closeCode: code, closeReason: reason})
}

// close ends the session from outside (shutdown).
func (ss *session) close(code, text string) {
	ss.reply(errorMessage(code, text))
	ss.closeAfterFlush(websocket.StatusGoingAway, text)
}

func (ss *session) writeLoop(ctx context.Context) {
	ping := time.NewTicker(pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, pingTimeout)
			err := ss.conn.Ping(pctx)
			cancel()
			if err != nil {
				ss.log.Info("socket did not answer a ping; closing", "err", err)
				ss.conn.CloseNow()
				return
			}
		case out := <-ss.send:
			if out.close {
				ss.conn.Close(out.closeCode, out.closeReason)
				return
			}
			data, err := json.Marshal(out.msg)
			if err != nil {
				ss.log.Error("cannot encode message", "err", err)
				continue
			}
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err = ss.conn.Write(wctx, websocket.MessageText, data)
			cancel()
			if err != nil {
				ss.conn.CloseNow()
				return
			}
		}
	}
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

func newToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}
