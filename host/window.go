package host

import (
	"net"
	"slices"
	"strconv"

	"couchplay/emu"
	"couchplay/internal/settings"
	"couchplay/signal"
)

// What the window (app.Host) reads and commands. Every method may be called
// from any goroutine and is cheap.

// Status is a snapshot of the host for the window.
type Status struct {
	Game       string // name of the running game
	Players    []int  // occupied player slots (1-4), connected or reserved
	Reserved   []int  // the slots of Players whose page dropped and may come back (room.ReserveFor)
	Spectators int
	// SocketMedia: the slots of Players whose page gets the game over its
	// WebSocket (no WebRTC, or WebRTC could not connect: README, WebSocket media).
	SocketMedia []int
	Peers       int    // connected viewers (WebRTC peers and WebSocket media)
	RoomCode    string // the 4-digit room code in code mode, "" when access is open (it changes when someone was guessing it)
	// AccessNotice is what the host says about its room code and QR code, ""
	// for nothing: typing the code waits for everyone (too many wrong codes),
	// someone was guessing so the code is new, a kick made a new QR code.
	AccessNotice string
	Notice       string // something the host had to do differently, e.g. serve on another port
	// Fingerprint is the SHA-256 fingerprint of the HTTPS certificate
	// (AA:BB:…), "" when serving plain HTTP.
	Fingerprint string
}

// Status is a snapshot for the window.
func (h *Host) Status() Status {
	players, spectators := h.room.Roster()
	var socketMedia []int
	for _, m := range h.srv.Members() {
		if m.Slot > 0 && m.Media == signal.MediaWebSocket {
			socketMedia = append(socketMedia, m.Slot)
		}
	}
	return Status{SocketMedia: socketMedia, Game: h.console.Status().Game.Name, Players: players, Reserved: h.room.Reserved(),
		Spectators: spectators, Peers: h.hub.Connected(), RoomCode: h.srv.RoomCode(), Notice: h.srv.PortNotice(),
		Fingerprint: h.srv.Fingerprint(), AccessNotice: h.srv.AccessNotice()}
}

// URLs are the join URLs (the QR code takes the first), then the
// couchplay.local name while it is answered (phones that resolve .local).
func (h *Host) URLs() []string {
	urls := h.srv.JoinURLs()
	if local := h.LocalURL(); local != "" {
		urls = append(slices.Clip(urls), local) // JoinURLs may be the server's own slice
	}
	return urls
}

// Kick removes the player in slot 1–4: its page is told and stays out until
// the host lets it in (room.Kick revokes every token it held and, in code
// mode, makes a new join key: the window's QR code and a new join line).
func (h *Host) Kick(slot int) error {
	m, err := h.room.Kick(slot)
	if err != nil {
		return err
	}
	h.log.Info("the host kicked a player", "slot", slot)
	h.srv.Removed(m)
	if h.room.Access() != nil {
		// The kicked page's QR code no longer works; a headless host's
		// players need the new one.
		h.sayPerURL("join", h.srv.JoinURLs(), " (a new join key: the host kicked a player)")
	}
	return nil
}

// MoveToSpectator makes the player in slot 1–4 a spectator; its page goes on
// watching, and comes back as a spectator after a reload.
func (h *Host) MoveToSpectator(slot int) error {
	m, err := h.room.MoveToSpectator(slot)
	if err != nil {
		return err
	}
	h.log.Info("the host moved a player to the spectators", "slot", slot)
	h.srv.Moved(m)
	return nil
}

// Console is the game library and controls.
func (h *Host) Console() *emu.Console { return h.console }

// Preview is the running game's picture for the window.
func (h *Host) Preview() *emu.Preview { return h.preview }

// Settings is the settings file the window's Settings screen edits (nil: none).
func (h *Host) Settings() *settings.Store { return h.cfg.Settings }

// LocalURL is http(s)://couchplay.local:PORT/ (or the couchplay-N.local name
// chosen) while mDNS answers that name on the LAN, else "". It is an extra
// for the window: phones often cannot resolve .local, so it is never the
// URL to share or the QR code.
func (h *Host) LocalURL() string {
	name := h.mdns.Host() // nil-safe: no advertiser, no name
	addr := h.srv.Addr()
	if name == "" || addr == nil {
		return ""
	}
	return h.srv.Scheme() + "://" + net.JoinHostPort(name, strconv.Itoa(addr.Port)) + "/"
}
