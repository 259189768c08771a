package signal

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"

	"couchplay/room"
	"couchplay/stream"
)

// WHEP (draft-ietf-wish-whep, the sibling of WHIP, RFC 9725): a view-only
// stream for any WHEP player (ffplay, OBS, GStreamer's whepsrc, browser
// players). POST /whep with an SDP offer takes a spectator seat and answers
// 201 with the SDP answer and a Location; DELETE on that Location leaves.
// No trickle (PATCH gets the mux's 405): the answer carries every candidate.

const (
	sdpContentType = "application/sdp"
	// WHEPBodyLimit caps an offer, like the WebSocket read limit.
	WHEPBodyLimit = 64 << 10
)

// whepSession is one WHEP viewer: a spectator seat and its peer.
type whepSession struct {
	id      string
	member  *room.Member
	release func()       // its per-address slot
	peer    *stream.Peer // nil until the offer is answered; guarded by Server.wheps.mu
}

// whepSessions is the Server's registry of WHEP viewers by id.
type whepSessions struct {
	mu   sync.Mutex
	byID map[string]*whepSession
}

func (s *Server) addWHEP(ws *whepSession) {
	s.wheps.mu.Lock()
	defer s.wheps.mu.Unlock()
	if s.wheps.byID == nil {
		s.wheps.byID = map[string]*whepSession{}
	}
	s.wheps.byID[ws.id] = ws
}

// takeWHEP removes and returns a session, or nil if it is gone already; so
// whoever takes it is the one who ends it.
func (s *Server) takeWHEP(id string) *whepSession {
	s.wheps.mu.Lock()
	defer s.wheps.mu.Unlock()
	ws := s.wheps.byID[id]
	delete(s.wheps.byID, id)
	return ws
}

// endWHEP frees the peer and the seat of a session, once, whoever asks first:
// DELETE, a failed or closed connection, or the hub's shutdown.
func (s *Server) endWHEP(id, reason string) bool {
	ws := s.takeWHEP(id)
	if ws == nil {
		return false
	}
	s.wheps.mu.Lock()
	peer := ws.peer
	s.wheps.mu.Unlock()
	if peer != nil {
		peer.Close()
	}
	s.room.Leave(ws.member)
	ws.release()
	s.broadcastRoster()
	s.log.Info("WHEP viewer left", "id", id, "reason", reason)
	return true
}

func (s *Server) handleWHEP(w http.ResponseWriter, r *http.Request) {
	// The same Origin rule as /ws (origin.go): browsers' cross-origin requests
	// are refused, WHEP players send no Origin.
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	if !s.whepAuthorized(w, r) { // code mode: Bearer <join key or room code>
		return
	}
	if status, text := checkWHEPContentType(r.Header.Get("Content-Type")); status != 0 {
		w.Header().Set("Accept-Post", sdpContentType)
		whepError(w, status, text)
		return
	}
	release, ref := s.whepConns.acquire(clientIP(r))
	if ref == nil {
		if ref = s.joins.allow(clientIP(r)); ref != nil {
			release()
		}
	}
	if ref != nil {
		s.log.Warn("WHEP viewer refused", "remote", r.RemoteAddr, "reason", ref.text)
		tooMany(w, ref)
		return
	}
	// From here every way out but a 201 gives the slot back.
	started := false
	defer func() {
		if !started {
			release()
		}
	}()
	body, status, text := readWHEPOffer(w, r)
	if status != 0 {
		whepError(w, status, text)
		return
	}
	s.mu.Lock()
	closing := s.closing
	s.mu.Unlock()
	if closing {
		whepError(w, http.StatusServiceUnavailable, "the host is shutting down")
		return
	}

	ws := &whepSession{id: room.NewToken(), member: &room.Member{}, release: func() {}}
	log := s.log.With("whep", ws.id, "remote", r.RemoteAddr)
	if _, _, err := s.room.Join(ws.member, 0, true); err != nil {
		log.Warn("WHEP viewer refused", "err", err)
		w.Header().Set("Retry-After", "30")
		whepError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	// Registered before the peer exists, so an end that races the answer
	// (the hub shutting down) still finds the seat to free; from then on
	// endWHEP gives the slot back.
	started, ws.release = true, release
	s.addWHEP(ws)
	s.broadcastRoster()
	peer, answer, err := s.hub.AnswerPeer(body, stream.PeerEvents{
		// pion stops at Failed after ICE or DTLS fails (a player that
		// vanished or never connected): that frees the seat as Closed does.
		Failed: func(reason string) { s.endWHEP(ws.id, "connection failed: "+reason) },
		Closed: func() { s.endWHEP(ws.id, "connection closed") },
	})
	if err != nil {
		s.endWHEP(ws.id, "no stream: "+err.Error())
		if errors.Is(err, stream.ErrBadOffer) {
			log.Info("WHEP offer refused", "err", err)
			whepError(w, http.StatusBadRequest, err.Error())
			return
		}
		log.Error("cannot start a WHEP stream", "err", err)
		whepError(w, http.StatusServiceUnavailable, "the host could not start the stream: "+err.Error())
		return
	}
	s.wheps.mu.Lock()
	_, live := s.wheps.byID[ws.id]
	if live {
		ws.peer = peer
	}
	s.wheps.mu.Unlock()
	if !live {
		peer.Close()
		whepError(w, http.StatusServiceUnavailable, "the stream ended before it started (is the host shutting down?)")
		return
	}
	log.Info("WHEP viewer joined")
	// Relative to the request URL (RFC 3986 resolution: /x/whep + whep/ID =
	// /x/whep/ID), so it stays right when a proxy serves the host under a
	// sub-path that the host never sees.
	w.Header().Set("Location", "whep/"+url.PathEscape(ws.id))
	w.Header().Set("Content-Type", sdpContentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusCreated)
	io.WriteString(w, answer)
}

func (s *Server) handleWHEPDelete(w http.ResponseWriter, r *http.Request) {
	// The same Origin rule as /ws (origin.go): browsers' cross-origin requests
	// are refused, WHEP players send no Origin.
	if !s.originAllowed(r) {
		s.refuseOrigin(w, r)
		return
	}
	if !s.endWHEP(r.PathValue("id"), "DELETE") {
		whepError(w, http.StatusNotFound, "no such WHEP session (it ended already, or the id is wrong)")
		return
	}
	w.WriteHeader(http.StatusOK)
}

// checkWHEPContentType accepts application/sdp (with any parameters), or
// says which status and why not.
func checkWHEPContentType(contentType string) (status int, text string) {
	if mediaType, _, err := mime.ParseMediaType(contentType); err != nil || mediaType != sdpContentType {
		return http.StatusUnsupportedMediaType, fmt.Sprintf("WHEP takes an SDP offer with Content-Type: %s (got %q)", sdpContentType, contentType)
	}
	return 0, ""
}

// readWHEPOffer reads an offer of at most WHEPBodyLimit bytes, or says which
// status and why not. What the SDP says is stream.AnswerPeer's to judge.
func readWHEPOffer(w http.ResponseWriter, r *http.Request) (offer string, status int, text string) {
	tooBig := fmt.Sprintf("the SDP offer is over the %d KiB limit", WHEPBodyLimit>>10)
	if r.ContentLength > WHEPBodyLimit {
		return "", http.StatusRequestEntityTooLarge, tooBig
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, WHEPBodyLimit))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return "", http.StatusRequestEntityTooLarge, tooBig
		}
		return "", http.StatusBadRequest, "cannot read the offer: " + err.Error()
	}
	return string(body), 0, ""
}

// whepError answers with a text/plain explanation.
func whepError(w http.ResponseWriter, code int, text string) {
	http.Error(w, text, code)
}
