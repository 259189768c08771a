// Package signal is couchplay's coordinator: the HTTP server with the embedded
// web client, WebSocket signalling, player slots and spectators, and mDNS.
package signal

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/pion/webrtc/v4"
)

// Message types on /ws. Every message is a JSON object with a "type".
const (
	// browser -> host
	TypeJoin   = "join"   // first message: asks for a slot (or to watch)
	TypeAnswer = "answer" // SDP answer to the host's offer
	TypeLeave  = "leave"  // the page is going away: free the slot now
	// both ways
	TypeCandidate = "candidate" // trickled ICE candidate
	// host -> browser
	TypeWelcome = "welcome" // the slot (or spectator seat) the browser got
	TypeOffer   = "offer"   // the host's SDP offer
	TypeRoster  = "roster"  // who plays, sent on every change
	TypeError   = "error"   // something was wrong; the socket stays open unless said otherwise
)

// Error codes sent in TypeError messages.
const (
	CodeBadJSON       = "bad_json"
	CodeUnknownType   = "unknown_type"
	CodeBadMessage    = "bad_message"
	CodeNotJoined     = "not_joined"
	CodeAlreadyJoined = "already_joined"
	CodeFull          = "full"
	CodeBadInput      = "bad_input"
	CodeBadCandidate  = "bad_candidate" // one unusable ICE candidate; the session goes on
	CodeWebRTC        = "webrtc"
	CodeShutdown      = "shutdown"
	CodeReplaced      = "replaced" // a rejoin with this session's token took the slot
)

// ReadLimit is the largest message the host reads; a bigger one closes the
// socket with 1009 (message too big). An SDP answer is a few KiB.
const ReadLimit = 64 << 10

// Message is the union of every field any message type uses; unused ones are omitted.
type Message struct {
	Type string `json:"type"`

	// join
	Slot  int    `json:"slot,omitempty"`
	Watch bool   `json:"watch,omitempty"`
	Token string `json:"token,omitempty"`

	// offer, answer
	SDP string `json:"sdp,omitempty"`
	// candidate
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`

	// welcome
	Role   string    `json:"role,omitempty"`
	Notice string    `json:"notice,omitempty"`
	Game   *GameInfo `json:"game,omitempty"`

	// roster
	Players    []int `json:"players,omitempty"`
	Spectators *int  `json:"spectators,omitempty"`

	// error
	Code string `json:"code,omitempty"`
	Text string `json:"message,omitempty"`
}

// GameInfo tells the page what is running.
type GameInfo struct {
	Name   string `json:"name"`
	Width  int    `json:"width"`
	Height int    `json:"height"`
}

// Roles in a welcome message.
const (
	RolePlayer    = "player"
	RoleSpectator = "spectator"
)

// ProtocolError is a bad message from a browser: it is answered with an error
// message and the socket stays open.
type ProtocolError struct {
	Code string
	Text string
}

func (e *ProtocolError) Error() string { return e.Code + ": " + e.Text }

// DecodeMessage parses and checks one message from an untrusted browser.
func DecodeMessage(data []byte) (Message, error) {
	var m Message
	if err := json.Unmarshal(data, &m); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || !json.Valid(data) {
			return m, &ProtocolError{CodeBadJSON, "message is not valid JSON: " + err.Error()}
		}
		return m, &ProtocolError{CodeBadMessage, "message has a field of the wrong kind: " + err.Error()}
	}
	switch m.Type {
	case TypeJoin:
		// An out-of-range slot is not an error: the room seats a spectator with a notice.
	case TypeAnswer:
		if m.SDP == "" {
			return m, &ProtocolError{CodeBadMessage, "answer without sdp"}
		}
	case TypeCandidate, TypeLeave:
	case "":
		return m, &ProtocolError{CodeBadMessage, `message has no "type"`}
	default:
		return m, &ProtocolError{CodeUnknownType, fmt.Sprintf("unknown message type %q", m.Type)}
	}
	return m, nil
}

// errorMessage builds a TypeError message.
func errorMessage(code, text string) Message {
	return Message{Type: TypeError, Code: code, Text: text}
}
