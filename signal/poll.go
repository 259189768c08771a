package signal

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HTTP long-poll signalling: the fallback the web client switches to when a
// proxy will not carry WebSockets (it strips Upgrade/Connection). The same
// session and messages as /ws, carried by POST poll/send and GET poll/recv.
const (
	pollWait = 25 * time.Second // a recv answers with [] after this, under common proxy timeouts (60 s)
	pollIdle = 30 * time.Second // a session with no recv for this long has gone away
	// pollBatch bounds the messages one recv returns, so one answer stays small.
	pollBatch = 32
	// CodeSessionGone answers requests for a poll session that has ended.
	CodeSessionGone = "session_gone"
	// CodeTooBig answers a poll message over ReadLimit (a WebSocket closes with 1009 instead).
	CodeTooBig = "too_big"
)

// pollSession is a session carried by long-polling.
type pollSession struct {
	ss       *session
	idle     *time.Timer // ends the session after pollIdle without a recv
	busy     atomic.Bool // a recv is outstanding
	finished atomic.Bool // the session's last message has been delivered
}

// pollSessions is the Server's registry of long-poll sessions by id.
type pollSessions struct {
	mu   sync.Mutex
	byID map[string]*pollSession
}

func (s *Server) handlePollOpen(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	ss, err := s.newSession(s.log.With("remote", r.RemoteAddr, "signal", "poll"), false)
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, errorMessage(CodeShutdown, err.Error()))
		return
	}
	id := newToken()
	ps := &pollSession{ss: ss}
	ps.idle = time.AfterFunc(pollIdle, func() {
		ss.log.Info("long-poll session idle; ending it")
		s.endPoll(id)
	})
	s.polls.mu.Lock()
	if s.polls.byID == nil {
		s.polls.byID = map[string]*pollSession{}
	}
	s.polls.byID[id] = ps
	s.polls.mu.Unlock()
	ss.log.Info("signalling over HTTP long-polling (the WebSocket could not be used)")
	writeJSON(w, http.StatusCreated, map[string]string{"session": id})
}

func (s *Server) handlePollSend(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	ps := s.lookupPoll(w, r)
	if ps == nil {
		return
	}
	if isDone(ps.ss) {
		writeJSON(w, http.StatusGone, errorMessage(CodeSessionGone, "this signalling session has ended"))
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, ReadLimit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			ps.ss.log.Warn("refused a long-poll message over the size limit", "limit", ReadLimit)
			writeJSON(w, http.StatusRequestEntityTooLarge, errorMessage(CodeTooBig, "message over the 64 KiB limit"))
			return
		}
		http.Error(w, "cannot read the message: "+err.Error(), http.StatusBadRequest)
		return
	}
	ps.ss.receive(data)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handlePollRecv(w http.ResponseWriter, r *http.Request) {
	ps := s.lookupPoll(w, r)
	if ps == nil {
		return
	}
	if !ps.busy.CompareAndSwap(false, true) {
		writeJSON(w, http.StatusConflict, errorMessage(CodeBadMessage, "another recv is already waiting for this session"))
		return
	}
	defer ps.busy.Store(false)
	ps.idle.Stop()
	defer ps.idle.Reset(pollIdle)

	ss := ps.ss
	var batch []Message
	take := func(out outgoing) {
		if out.close {
			ps.finished.Store(true) // the session's last word
			return
		}
		batch = append(batch, out.msg)
	}
	// drain takes what else is already queued, into the same answer.
	drain := func() {
		for len(batch) < pollBatch && !ps.finished.Load() {
			select {
			case out := <-ss.send:
				take(out)
			default:
				return
			}
		}
	}
	wait := time.NewTimer(pollWait)
	defer wait.Stop()
	select {
	case out := <-ss.send:
		take(out)
		drain()
	case <-ss.done:
		drain()
	case <-wait.C:
	case <-r.Context().Done():
		return
	}
	id := r.URL.Query().Get("session")
	ended := ps.finished.Load() || (isDone(ss) && len(ss.send) == 0)
	if ended {
		// Forget it before answering, so the client's next request already sees 410.
		s.endPoll(id)
	}
	if len(batch) == 0 && ended {
		writeJSON(w, http.StatusGone, errorMessage(CodeSessionGone, "this signalling session has ended"))
		return
	}
	if batch == nil {
		batch = []Message{}
	}
	writeJSON(w, http.StatusOK, batch)
}

func isDone(ss *session) bool {
	select {
	case <-ss.done:
		return true
	default:
		return false
	}
}

// lookupPoll finds the session a request names, or answers 410.
func (s *Server) lookupPoll(w http.ResponseWriter, r *http.Request) *pollSession {
	id := r.URL.Query().Get("session")
	s.polls.mu.Lock()
	ps := s.polls.byID[id]
	s.polls.mu.Unlock()
	if ps == nil {
		writeJSON(w, http.StatusGone, errorMessage(CodeSessionGone, "no such signalling session (it ended, or the host restarted): reload the page"))
		return nil
	}
	return ps
}

// endPoll forgets a long-poll session and ends it.
func (s *Server) endPoll(id string) {
	s.polls.mu.Lock()
	ps := s.polls.byID[id]
	delete(s.polls.byID, id)
	s.polls.mu.Unlock()
	if ps != nil {
		ps.idle.Stop()
		ps.ss.finish()
	}
}

// stopPolling stops the idle timers; Shutdown ends the sessions itself.
func (s *Server) stopPolling() {
	s.polls.mu.Lock()
	defer s.polls.mu.Unlock()
	for _, ps := range s.polls.byID {
		ps.idle.Stop()
	}
}

// originAllowed applies the WebSocket's Origin rule (coder/websocket's, so
// /ws, poll and WHEP agree) to HTTP requests: no Origin (not a browser), this
// host's own, or one of --trusted-origins — a host pattern, or a whole-origin
// pattern when it has a scheme ("https://*.example").
func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, pattern := range s.cfg.TrustedOrigins {
		target := u.Host
		if strings.Contains(pattern, "://") {
			target = origin
		}
		if ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(target)); ok {
			return true
		}
	}
	return false
}

func (s *Server) refuseOrigin(w http.ResponseWriter, r *http.Request) {
	s.log.Warn("refused a cross-origin signalling request; a proxy that rewrites Host needs --trusted-origins",
		"remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "host", r.Host)
	http.Error(w, "couchplay: cross-origin request refused (Origin "+r.Header.Get("Origin")+" is not this host "+r.Host+"; behind a proxy that rewrites Host, start couchplay with --trusted-origins)", http.StatusForbidden)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
