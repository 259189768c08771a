package signal

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/coder/websocket"

	"couchplay/room"
)

// Access code mode (DESIGN §4, room/access.go) on the transports: a join
// must show the room code or the join key unless its session token was
// admitted; WHEP needs them as a Bearer token; the host can kick.

// KickedText is what a kicked page shows.
const KickedText = "You were removed from the game by the host"

// RoomCode is the 4-digit room code, or "" in open mode.
func (s *Server) RoomCode() string {
	if a := s.room.Access(); a != nil {
		return a.Code()
	}
	return ""
}

// JoinURLs are the URLs to share (the QR code encodes the first): in code
// mode each of URLs with the join key in the fragment (/#key=…, never sent to
// the server), in open mode URLs themselves.
func (s *Server) JoinURLs() []string {
	a := s.room.Access()
	if a == nil {
		return s.urls
	}
	urls := make([]string, len(s.urls))
	for i, u := range s.urls {
		urls[i] = u + "#key=" + a.Key()
	}
	return urls
}

// admitJoin checks a join against the room's access mode; false means it was
// answered with an error and the connection may try again.
func (ss *session) admitJoin(msg Message) bool {
	a := ss.srv.room.Access()
	if a == nil || a.Admitted(msg.Token) {
		return true
	}
	// A typed code goes first: a page whose link carries a stale key still sends it.
	secret := msg.Code
	if secret == "" {
		secret = msg.Key
	}
	err := a.Check(ss.ip, secret)
	var limited *room.RateLimitedError
	switch {
	case err == nil:
		return true
	case errors.Is(err, room.ErrCodeRequired):
		ss.reply(errorMessage(CodeCodeRequired, err.Error()))
	case errors.Is(err, room.ErrBadCode):
		ss.log.Info("join with a wrong room code or key", "key", msg.Key != "")
		ss.reply(errorMessage(CodeBadCode, err.Error()))
	case errors.As(err, &limited):
		ss.log.Warn("join refused: too many wrong room codes", "retry_after_s", limited.Seconds())
		msg := errorMessage(CodeRateLimited, err.Error())
		msg.RetryAfter = limited.Seconds()
		ss.reply(msg)
	}
	return false
}

// whepAuthorized checks a WHEP request in code mode (RFC 9725 §4.5: the
// Bearer token is the join key or the room code): 401 without one, 403 for a
// wrong one, 429 after too many wrong ones.
func (s *Server) whepAuthorized(w http.ResponseWriter, r *http.Request) bool {
	a := s.room.Access()
	if a == nil {
		return true
	}
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		token = ""
	}
	err := a.Check(clientIP(r), strings.TrimSpace(token))
	var limited *room.RateLimitedError
	switch {
	case err == nil:
		return true
	case errors.Is(err, room.ErrCodeRequired):
		w.Header().Set("WWW-Authenticate", `Bearer realm="couchplay"`)
		whepError(w, http.StatusUnauthorized, "this host needs Authorization: Bearer <room code or join key>")
	case errors.Is(err, room.ErrBadCode):
		s.log.Info("WHEP request with a wrong room code or key", "remote", r.RemoteAddr)
		whepError(w, http.StatusForbidden, "wrong room code or join key")
	case errors.As(err, &limited):
		w.Header().Set("Retry-After", strconv.Itoa(limited.Seconds()))
		whepError(w, http.StatusTooManyRequests, err.Error())
	}
	return false
}

// sessionOf finds the signalling session seated as m.
func (s *Server) sessionOf(m *room.Member) *session {
	s.mu.Lock()
	all := make([]*session, 0, len(s.sessions))
	for ss := range s.sessions {
		all = append(all, ss)
	}
	s.mu.Unlock()
	for _, ss := range all {
		ss.mu.Lock()
		is := ss.member == m
		ss.mu.Unlock()
		if is {
			return ss
		}
	}
	return nil
}

// Kick frees player slot (1–4): its page is told KickedText and its
// connection closed; in code mode its session token no longer lets it in.
func (s *Server) Kick(slot int) error {
	m, err := s.room.Kick(slot)
	if err != nil {
		return err
	}
	s.log.Info("the host kicked a player", "slot", slot)
	if ss := s.sessionOf(m); ss != nil {
		ss.reply(errorMessage(CodeKicked, KickedText))
		ss.closeAfterFlush(websocket.StatusPolicyViolation, "removed by the host")
	}
	s.broadcastRoster()
	return nil
}

// MoveToSpectator makes the player in slot (1–4) a spectator: its page gets
// a new welcome as a spectator (its stream goes on).
func (s *Server) MoveToSpectator(slot int) error {
	m, err := s.room.MoveToSpectator(slot)
	if err != nil {
		return err
	}
	s.log.Info("the host moved a player to the spectators", "slot", slot)
	if ss := s.sessionOf(m); ss != nil {
		ss.welcome(Message{Type: TypeWelcome, Slot: 0, Role: RoleSpectator, Token: m.Token,
			Notice: "The host moved you to the spectators."})
	}
	s.broadcastRoster()
	return nil
}

// announce prints the startup lines (DESIGN §2): one "serving" line per URL,
// with the room code in code mode, then in code mode one "join" line per URL
// with the key (what the QR code encodes).
func (s *Server) announce() {
	suffix := ""
	if code := s.RoomCode(); code != "" {
		suffix = " (room code " + code + ")"
	}
	for _, u := range s.urls {
		fmt.Fprintf(s.cfg.Stderr, "couchplay: serving %s%s\n", u, suffix)
	}
	if s.room.Access() != nil {
		for _, u := range s.JoinURLs() {
			fmt.Fprintf(s.cfg.Stderr, "couchplay: join %s\n", u)
		}
	}
}
