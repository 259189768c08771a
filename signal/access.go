package signal

import (
	"errors"
	"log/slog"
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
// answered with an error and the connection may try again. byToken: its
// session token let it in (not a code or key it showed).
func (ss *session) admitJoin(msg Message) (ok, byToken bool) {
	srv := ss.srv
	a := srv.room.Access()
	if a == nil {
		return true, true
	}
	if a.Admitted(msg.Token) {
		return true, true
	}
	// A typed code goes first: a page whose link carries a stale key still sends it.
	secret := msg.Code
	if secret == "" {
		secret = msg.Key
	}
	err := a.Check(ss.ip, secret)
	srv.newCodeIf(err)
	var limited *room.RateLimitedError
	switch {
	case err == nil:
		return true, false
	case errors.As(err, &limited):
		srv.logWrongCode(ss.log, ss.ip, "join refused: too many wrong room codes", "retry_after_s", limited.Seconds(), "everyone", limited.Everyone)
		msg := errorMessage(CodeRateLimited, err.Error())
		msg.RetryAfter = limited.Seconds()
		ss.reply(msg)
	case srv.room.Kicked(msg.Token):
		// The host kicked this page: neither its token nor what it shows lets it in.
		srv.logWrongCode(ss.log, ss.ip, "join refused: the host kicked this page", "code", secret != "")
		ss.reply(errorMessage(CodeKicked, KickedText))
		ss.closeAfterFlush(websocket.StatusPolicyViolation, "removed by the host")
	case errors.Is(err, room.ErrCodeRequired):
		ss.reply(errorMessage(CodeCodeRequired, err.Error()))
	case errors.Is(err, room.ErrBadCode):
		srv.logWrongCode(ss.log, ss.ip, "join with a wrong room code or key", "key", msg.Key != "" && msg.Code == "")
		ss.reply(errorMessage(CodeBadCode, err.Error()))
	}
	return false, false
}

// logWrongCode logs a refused code at most once per addrLogEvery per
// address (loglimit.go), saying how many lines it left out since.
func (s *Server) logWrongCode(log *slog.Logger, ip, text string, args ...any) {
	if ok, suppressed := s.addrLog.allow("code", ip); ok {
		log.Warn(text, append(args, "suppressed", suppressed)...)
	}
}

// newCodeIf reports a new room code when err says a wrong try made one
// (someone was guessing): in the log, and to Config.OnNewRoomCode; the
// window shows it (RoomCode, AccessNotice).
func (s *Server) newCodeIf(err error) {
	var made *room.NewCodeError
	if !errors.As(err, &made) {
		return
	}
	s.log.Warn("someone was guessing the room code: made a new one", "wrong_codes", made.Wrong)
	if s.cfg.OnNewRoomCode != nil {
		s.cfg.OnNewRoomCode(made.Code, made.Wrong)
	}
}

// AccessNotice is what the window says about wrong codes (typing the code
// waits for everyone; someone was guessing, so the code is new), or "".
func (s *Server) AccessNotice() string {
	if a := s.room.Access(); a != nil {
		return a.Notice()
	}
	return ""
}

// whepAuthorized checks a WHEP request in code mode (RFC 9725 §4.5: the
// Bearer token is the join key or the room code), before anything looks at
// the body, so the answer is the same whatever the body: 401 without one,
// 403 for a wrong one, 429 while wrong codes wait (the right code too).
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
	ip := clientIP(r)
	err := a.Check(ip, strings.TrimSpace(token))
	var limited *room.RateLimitedError
	switch {
	case err == nil:
		return true
	case errors.Is(err, room.ErrCodeRequired):
		w.Header().Set("WWW-Authenticate", `Bearer realm="couchplay"`)
		whepError(w, http.StatusUnauthorized, "this host needs Authorization: Bearer <room code or join key>")
	case errors.Is(err, room.ErrBadCode):
		s.logWrongCode(s.log, ip, "WHEP request with a wrong room code or key", "remote", r.RemoteAddr)
		s.newCodeIf(err)
		whepError(w, http.StatusForbidden, "wrong room code or join key")
	case errors.As(err, &limited):
		s.logWrongCode(s.log, ip, "WHEP request refused: too many wrong room codes", "remote", r.RemoteAddr, "retry_after_s", limited.Seconds(), "everyone", limited.Everyone)
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

// Removed tells the page of m, which the room no longer holds (the host
// kicked it: room.Kick), KickedText, closes its connection, and sends every
// page the new roster. host.Kick decides; this is the transport's part.
func (s *Server) Removed(m *room.Member) {
	if ss := s.sessionOf(m); ss != nil {
		ss.reply(errorMessage(CodeKicked, KickedText))
		ss.closeAfterFlush(websocket.StatusPolicyViolation, "removed by the host")
	}
	s.broadcastRoster()
}

// Moved gives the page of m, which the room made a spectator
// (room.MoveToSpectator), a new welcome as one (its stream goes on), and
// sends every page the new roster.
func (s *Server) Moved(m *room.Member) {
	if ss := s.sessionOf(m); ss != nil {
		ss.welcome(Message{Type: TypeWelcome, Slot: 0, Role: RoleSpectator, Token: m.Token,
			Notice: "The host moved you to the spectators."})
	}
	s.broadcastRoster()
}
