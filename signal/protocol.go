// Package signal is couchplay's coordinator: the HTTP server with the embedded
// web client, WebSocket and long-poll signalling and WHEP; who may play where
// (slots, spectators, access codes, kicks) it asks the room package.
package signal

import (
	"couchplay/emu"
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
	// TypeKeyframe: a page on WebSocket media whose decoder needs a keyframe
	// (it failed); a WebRTC page asks with RTCP PLI instead.
	TypeKeyframe = "keyframe"
	// Game commands, player 1 only: play {game: id}, stop (back to the
	// built-in game), reset, save_state/load_state {stateSlot: 1–9}.
	TypePlay      = "play"
	TypeStop      = "stop"
	TypeReset     = "reset"
	TypeSaveState = "save_state"
	TypeLoadState = "load_state"
	// both ways
	TypeCandidate = "candidate" // trickled ICE candidate
	TypeLibrary   = "library"   // browser: asks for the game list (anyone); host: {games} (to player 1 on join, and on request)
	// host -> browser
	TypeWelcome = "welcome" // the slot (or spectator seat) the browser got
	TypeOffer   = "offer"   // the host's SDP offer
	TypeRoster  = "roster"  // who plays, sent on every change
	TypeError   = "error"   // something was wrong; the socket stays open unless said otherwise
	TypeGame    = "game"    // what runs now {game}, to every session on each change (new game, crash)
	TypeNotice  = "notice"  // a command worked {message}, e.g. "Saved state 1"
)

// AudioPathDataChannel is the join's audioPath that asks for stream.AudioLabel.
const AudioPathDataChannel = "datachannel"

// The join's media: MediaWebSocket asks for the stream over the signalling
// WebSocket itself (stream.SocketViewer: for a browser without WebRTC, or
// whose ICE cannot connect); anything else is WebRTC. /healthz and the
// window name each member's with these words.
const (
	MediaWebRTC    = "webrtc"
	MediaWebSocket = "websocket"
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
	CodeReplaced      = "replaced"     // a rejoin with this session's token took the slot
	CodeNotAllowed    = "not_allowed"  // a game command from someone other than player 1
	CodeGameFailed    = "game_failed"  // a game command failed; the message is the console's reason
	CodeRateLimited   = "rate_limited" // too many game commands waiting
	CodeJoinTimeout   = "join_timeout" // the connection sent no join in time (DefaultJoinTimeout)
	// Access code mode (room/access.go): a join with neither code nor key, a
	// wrong one, or too many wrong ones (rate_limited with retryAfter). The
	// connection stays open for another join.
	CodeCodeRequired = "code_required"
	CodeBadCode      = "bad_code"
	CodeKicked       = "kicked" // the host removed this page from the game; it should not rejoin by itself
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
	// Key is the join key from the QR code's URL (/#key=…); a join's room
	// code travels in Code ("code", the field errors use for their code).
	Key string `json:"key,omitempty"`
	// Controller: the page is a phone in controller mode, a pad with no
	// picture, so a player's peer carries no video (a spectator's still does:
	// it gets no pad, so it watches).
	Controller bool `json:"controller,omitempty"`
	// AudioPath: AudioPathDataChannel asks for the sound over the audio data
	// channel too (the page can decode it: secure context, WebCodecs,
	// AudioWorklet). Anything else: the RTP audio track only.
	AudioPath string `json:"audioPath,omitempty"`
	// Media: MediaWebSocket, or empty for WebRTC.
	Media string `json:"media,omitempty"`

	// offer, answer
	SDP string `json:"sdp,omitempty"`
	// candidate
	Candidate *webrtc.ICECandidateInit `json:"candidate,omitempty"`

	// welcome, game
	Role   string    `json:"role,omitempty"`
	Notice string    `json:"notice,omitempty"`
	Game   *GameInfo `json:"game,omitempty"`

	// play: the library id to start. On the wire it is the "game" field
	// (a string from the browser; the host sends a GameInfo object there).
	GameID string `json:"-"`
	// save_state, load_state: 1..emu.StateSlots
	StateSlot int `json:"stateSlot,omitempty"`

	// library (host -> browser)
	Games []LibraryGame `json:"games,omitempty"`

	// roster
	Players    []int `json:"players,omitempty"`
	Spectators *int  `json:"spectators,omitempty"`

	// error
	Code string `json:"code,omitempty"`
	Text string `json:"message,omitempty"`
	// RetryAfter: seconds to wait, with rate_limited for wrong room codes.
	RetryAfter int `json:"retryAfter,omitempty"`

	// Seq numbers what the host sends over long-polling (poll.go), for the
	// client's ack; a WebSocket needs none.
	Seq uint64 `json:"seq,omitempty"`
}

// GameInfo tells the page what is running.
type GameInfo struct {
	Name    string `json:"name"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	ID      string `json:"id,omitempty"`      // library id (empty without a console)
	State   string `json:"state"`             // emu.StateRunning or emu.StateCrashed
	Message string `json:"message,omitempty"` // for a crash: "the game crashed: …"
}

// LibraryGame is one entry of a library message.
type LibraryGame struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	System  string `json:"system"`
	Core    string `json:"core"`
	Problem string `json:"problem"` // why it cannot start; empty when it can
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
	// "game" is a string in a browser's play message: read it raw.
	wire := struct {
		*Message
		Game json.RawMessage `json:"game"`
	}{Message: &m}
	if err := json.Unmarshal(data, &wire); err != nil {
		var syntax *json.SyntaxError
		if errors.As(err, &syntax) || !json.Valid(data) {
			return m, &ProtocolError{CodeBadJSON, "message is not valid JSON: " + err.Error()}
		}
		return m, &ProtocolError{CodeBadMessage, "message has a field of the wrong kind: " + err.Error()}
	}
	switch m.Type {
	case TypeJoin:
		// An out-of-range slot is not an error: the room seats a spectator with a notice.
		if m.Media != "" && m.Media != MediaWebRTC && m.Media != MediaWebSocket {
			return m, &ProtocolError{CodeBadMessage, fmt.Sprintf(`join's "media" is %q or %q, not %q`, MediaWebRTC, MediaWebSocket, m.Media)}
		}
	case TypeAnswer:
		if m.SDP == "" {
			return m, &ProtocolError{CodeBadMessage, "answer without sdp"}
		}
	case TypeCandidate, TypeLeave, TypeLibrary, TypeStop, TypeReset, TypeKeyframe:
	case TypePlay:
		if len(wire.Game) == 0 || json.Unmarshal(wire.Game, &m.GameID) != nil || m.GameID == "" {
			return m, &ProtocolError{CodeBadMessage, `play needs "game": the id of a library entry`}
		}
	case TypeSaveState, TypeLoadState:
		if m.StateSlot < 1 || m.StateSlot > emu.StateSlots {
			return m, &ProtocolError{CodeBadMessage, fmt.Sprintf(`%s needs "stateSlot" from 1 to %d`, m.Type, emu.StateSlots)}
		}
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
