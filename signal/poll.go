package signal

import (
	"couchplay/room"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"encoding/json"
)

// HTTP long-poll signalling: the fallback the web client switches to when a
// proxy will not carry WebSockets (it strips Upgrade/Connection). The same
// session and messages as /ws, carried by POST poll/send and GET poll/recv.
//
// Nothing is lost to a dropped response: every message the host sends has a
// "seq" (1, 2, …), and a recv with ack=N (the highest seq the client has
// handled; 0 at first) gets what follows N, again if need be: the host keeps
// what it sent until a later recv acknowledges it; a recv without ack is
// refused (400). A send with seq=N (1, 2, … per session) is applied once: a
// retry of one that arrived is ignored.
const (
	pollWait = 25 * time.Second // a recv answers with [] after this, under common proxy timeouts (60 s)
	pollIdle = 30 * time.Second // a session with no recv for this long has gone away
	// pollLinger is how long an ended session is kept for its client to
	// fetch (and acknowledge) its last messages; recvs do not extend it.
	pollLinger = 5 * time.Second
	// pollBatch bounds the messages one recv returns, so one answer stays small.
	pollBatch = 32
	// CodeSessionGone answers requests for a poll session that has ended.
	CodeSessionGone = "session_gone"
	// CodeTooBig answers a poll message over ReadLimit (a WebSocket closes with 1009 instead).
	CodeTooBig = "too_big"
)

// pollSession is a session carried by long-polling.
type pollSession struct {
	id      string
	ss      *session
	idle    *time.Timer // ends the session after pollIdle without a recv, or pollLinger after it ended
	busy    atomic.Bool // a recv is outstanding
	release func()      // its connection slot, given back when the session ends (or is forgotten)
	endAt   time.Time   // set when the session ended: forgotten by then at the latest; guarded by mu

	mu       sync.Mutex
	seq      uint64    // the last seq given to a message
	pending  []Message // sent to an ack=… recv and not acknowledged yet
	finished bool      // the session's last message has been taken off the queue
	sendSeq  uint64    // the highest send seq applied
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
	release, ref := s.conns.acquire(clientIP(r))
	if ref != nil {
		s.log.Warn("refused a long-poll session", "remote", r.RemoteAddr, "reason", ref.text)
		tooMany(w, ref)
		return
	}
	id := room.NewToken()
	ps := &pollSession{id: id, release: release}
	log := s.log.With("remote", r.RemoteAddr, "signal", "poll")
	ps.idle = time.AfterFunc(pollIdle, func() {
		log.Info("long-poll session idle or over; forgetting it")
		s.endPoll(id)
	})
	ss, err := s.newSessionWith(log, clientIP(r), false, func(ss *session) {
		// Its place comes back as soon as it ends, and it is forgotten
		// pollLinger later at the latest, whatever its client does (a client
		// that never acknowledges the last messages must not keep it).
		ss.release, ss.finishAtOnce = release, true
		ss.onFinish = func() {
			ps.mu.Lock()
			ps.endAt = time.Now().Add(pollLinger)
			ps.mu.Unlock()
			ps.idle.Reset(pollLinger)
		}
	})
	if err != nil {
		ps.idle.Stop()
		release()
		writeJSON(w, http.StatusServiceUnavailable, errorMessage(CodeShutdown, err.Error()))
		return
	}
	ps.ss = ss
	s.polls.mu.Lock()
	if s.polls.byID == nil {
		s.polls.byID = map[string]*pollSession{}
	}
	s.polls.byID[id] = ps
	s.polls.mu.Unlock()
	if isDone(ss) {
		ps.idle.Reset(pollLinger) // it ended before it was registered (shut down, pushed out)
	}
	ss.log.Info("signalling over HTTP long-polling (the WebSocket could not be used)")
	writeJSON(w, http.StatusCreated, map[string]string{"session": id})
}

// parseSeq reads an optional non-negative sequence number from the query
// (ack on recv, seq on send): given says whether it was there at all.
func parseSeq(r *http.Request, name string) (n uint64, given bool, err error) {
	q := r.URL.Query()
	if !q.Has(name) {
		return 0, false, nil
	}
	n, err = strconv.ParseUint(q.Get(name), 10, 64)
	if err != nil {
		return 0, true, errors.New(name + " must be a whole number (the last message seq handled)")
	}
	return n, true, nil
}

func (s *Server) handlePollSend(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	seq, numbered, err := parseSeq(r, "seq")
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorMessage(CodeBadMessage, err.Error()))
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
	if numbered {
		ps.mu.Lock()
		repeat := seq <= ps.sendSeq
		if !repeat {
			ps.sendSeq = seq
		}
		ps.mu.Unlock()
		if repeat {
			ps.ss.log.Debug("ignored a repeated long-poll send", "seq", seq)
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	ps.ss.receive(data)
	if ps.ss.hasLeft() {
		// The page said leave (sendBeacon on pagehide) and polls no more:
		// forget it now, giving its connection place back at once.
		s.endPoll(ps.id)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handlePollRecv(w http.ResponseWriter, r *http.Request) {
	ack, given, err := parseSeq(r, "ack")
	if err == nil && !given {
		err = errors.New("recv needs ack: the highest seq handled, 0 at first")
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorMessage(CodeBadMessage, err.Error()))
		return
	}
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
	defer func() {
		ps.mu.Lock()
		endAt := ps.endAt
		ps.mu.Unlock()
		if endAt.IsZero() {
			ps.idle.Reset(pollIdle)
		} else {
			ps.idle.Reset(max(0, time.Until(endAt))) // an ended session's recvs do not extend it
		}
	}()

	ss := ps.ss
	// What the client has not acknowledged is sent again before anything new.
	ps.mu.Lock()
	i := 0
	for i < len(ps.pending) && ps.pending[i].Seq <= ack {
		i++
	}
	ps.pending = ps.pending[i:]
	batch := append([]Message(nil), ps.pending...)
	ps.mu.Unlock()

	var fresh []Message
	take := func(out outgoing) {
		if out.close {
			ps.mu.Lock()
			ps.finished = true // the session's last word
			ps.mu.Unlock()
			return
		}
		ps.mu.Lock()
		ps.seq++
		out.msg.Seq = ps.seq
		ps.mu.Unlock()
		fresh = append(fresh, out.msg)
	}
	finished := func() bool {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		return ps.finished
	}
	// drain takes what else is already queued, into the same answer.
	drain := func() {
		for len(fresh) < pollBatch && !finished() {
			select {
			case out := <-ss.send:
				take(out)
			default:
				return
			}
		}
	}
	if len(batch) == 0 && !finished() {
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
	}
	if len(fresh) > 0 {
		ps.mu.Lock()
		ps.pending = append(ps.pending, fresh...) // until a later recv acknowledges them
		ps.mu.Unlock()
	}
	batch = append(batch, fresh...)
	ended := finished() || (isDone(ss) && len(ss.send) == 0)
	if ended {
		ss.finish()
		if len(batch) == 0 {
			// Forget it before answering, so the client's next request already
			// sees 410: only once the last messages are acknowledged.
			s.endPoll(ps.id)
		}
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

// endPoll forgets a long-poll session, ends it and gives its slot back.
func (s *Server) endPoll(id string) {
	s.polls.mu.Lock()
	ps := s.polls.byID[id]
	delete(s.polls.byID, id)
	s.polls.mu.Unlock()
	if ps != nil {
		ps.idle.Stop()
		ps.ss.finish()
		ps.release()
	}
}

// stopPolling stops the idle timers and forgets the sessions; Shutdown ends
// the sessions themselves.
func (s *Server) stopPolling() {
	s.polls.mu.Lock()
	defer s.polls.mu.Unlock()
	for id, ps := range s.polls.byID {
		ps.idle.Stop()
		ps.release()
		delete(s.polls.byID, id)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
