package room

import (
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"
)

// Access code mode (DESIGN §4): the host makes a 4-digit room code and a long
// random join key at start. A join (or a WHEP request) shows one of them; a
// page that got in keeps its session token, which is admitted from then on, so
// a reconnect needs neither.
//
// Wrong codes are limited per client address and in total, whatever carries
// them (/ws, long-poll, WHEP): an address gets MaxWrongCodes wrong tries in
// WrongCodeWindow, and all addresses together MaxWrongCodesTotal in
// TotalWindow; past either, typing a code waits (the right code too, so the
// answer says nothing about it). After NewCodeAfter wrong codes in all the
// host makes a new room code (the window shows it). The join key and admitted
// tokens are never refused by these limits: the key is 128 random bits, so
// only someone who was shown it (the QR code) has it.
//
// What that costs an attacker with any number of addresses: at most 30 wrong
// codes count in any 10 minutes, 3 a minute on average. Each code lives for
// 300 wrong tries, so trying 300 different codes hits it with probability
// 300/10000 = 3 %; the hit comes after (1-p)/p = 32.3 missed codes of 300
// tries plus 150.5 tries into the last one, 9,850 tries on average, which at
// 3 a minute take 9850/3 ≈ 3,283 min ≈ 54.7 hours (2.3 days). Within 24 h (4,320 tries, 14.4 codes' worth) the chance of a
// hit is 1 − 0.97^14.4 ≈ 35 %. Without the new codes the attacker could walk
// the 10,000 codes in order: 5,000 tries (28 h) on average, all within 56 h.
const (
	MaxWrongCodes   = 5           // wrong codes an address may try…
	WrongCodeWindow = time.Minute // …within this long; then every try from it waits
	// MaxWrongCodesTotal wrong codes from all addresses together within
	// TotalWindow pause typing a code for everyone until the oldest is that old.
	MaxWrongCodesTotal = 30
	TotalWindow        = 10 * time.Minute
	// NewCodeAfter wrong codes in all (since the code was made) make a new room code.
	NewCodeAfter = 300
	// maxAdmitted caps the remembered session tokens (the oldest go first).
	maxAdmitted = 4096
	// maxAddresses caps the addresses with wrong tries remembered. With at
	// most MaxWrongCodesTotal wrong tries counted per TotalWindow it is never
	// reached; if it were, a try from a new address waits (it never frees
	// the addresses that are waiting).
	maxAddresses = 4096
	// maxRetiredKeys old join keys (a kick makes a new one) are known as
	// stale rather than counted as guesses.
	maxRetiredKeys = 16
)

var (
	// ErrCodeRequired: the join showed neither the room code nor the key.
	ErrCodeRequired = errors.New("this room needs its code: type the 4 digits shown on the host's screen")
	// ErrBadCode: the code (or key) shown is wrong.
	ErrBadCode = errors.New("wrong code: check the 4 digits on the host's screen")
)

// NewCodeError is ErrBadCode for the wrong try that made the host change its
// room code (NewCodeAfter wrong codes in all): someone was guessing it.
type NewCodeError struct {
	Code  string // the new room code
	Wrong int    // wrong codes tried against the old one
}

func (e *NewCodeError) Error() string { return ErrBadCode.Error() }
func (e *NewCodeError) Unwrap() error { return ErrBadCode }

// RateLimitedError refuses a try while its address had MaxWrongCodes wrong
// ones within WrongCodeWindow, or (Everyone) while all addresses together had
// MaxWrongCodesTotal within TotalWindow; RetryAfter is when it may try again.
type RateLimitedError struct {
	RetryAfter time.Duration
	Everyone   bool // the host's total, not this address's
}

func (e *RateLimitedError) Error() string {
	if e.Everyone {
		return fmt.Sprintf("too many wrong codes on this host (someone may be guessing): typing the code waits for everyone for %d s; scanning the QR code still works", e.Seconds())
	}
	return fmt.Sprintf("too many wrong codes: try again in %d s", e.Seconds())
}

// Seconds is RetryAfter rounded up to whole seconds (at least 1).
func (e *RateLimitedError) Seconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Access holds a room's code, key, the admitted session tokens and the wrong
// tries. Safe for concurrent use.
type Access struct {
	mu       sync.Mutex
	code     string
	key      string
	retired  []string // old join keys, newest last
	admitted map[string]struct{}
	order    []string               // admitted tokens, oldest first
	wrong    map[string][]time.Time // address -> times of its wrong tries within WrongCodeWindow
	total    []time.Time            // every wrong try within TotalWindow, oldest first
	sinceNew int                    // wrong tries against the current code
	// newCodeAt is when guessing made a new code, newKeyAt when a kick made
	// a new key (zero: never).
	newCodeAt, newKeyAt time.Time
}

// NewAccess makes a fresh random room code and join key.
func NewAccess() *Access {
	return NewAccessWith(newCode(), NewToken())
}

func newCode() string {
	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return fmt.Sprintf("%04d", n.Int64())
}

// NewAccessWith uses the given code and key (tests).
func NewAccessWith(code, key string) *Access {
	return &Access{code: code, key: key, admitted: map[string]struct{}{}, wrong: map[string][]time.Time{}}
}

// Code is the 4-digit room code (it changes when someone was guessing it).
func (a *Access) Code() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.code
}

// Key is the join key the QR code carries (/#key=…); a kick changes it.
func (a *Access) Key() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.key
}

// NewKey replaces the join key (a kicked page must not come back with the QR
// code it scanned) and returns the new one; pages already in keep their tokens.
func (a *Access) NewKey() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.retired = append(a.retired, a.key)
	if len(a.retired) > maxRetiredKeys {
		a.retired = a.retired[1:]
	}
	a.key = NewToken()
	a.newKeyAt = time.Now()
	return a.key
}

// Check judges a try from address ip showing secret (the room code or the join
// key): nil lets it in. The join key always does. Otherwise, while ip has had
// MaxWrongCodes wrong tries within WrongCodeWindow, or everyone together
// MaxWrongCodesTotal within TotalWindow, it is a *RateLimitedError whatever it
// shows; an empty secret is ErrCodeRequired (not counted); the room code lets
// it in; anything else is ErrBadCode, counted (a *NewCodeError when it made a
// new code), except a join key a kick retired (a stale QR code, not a guess).
func (a *Access) Check(ip, secret string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if secret != "" && equal(secret, a.key) {
		return nil
	}
	for _, old := range a.retired {
		if equal(secret, old) {
			return ErrBadCode
		}
	}
	now := time.Now()
	if tries := a.recent(ip, now); len(tries) >= MaxWrongCodes {
		return &RateLimitedError{RetryAfter: tries[len(tries)-MaxWrongCodes].Add(WrongCodeWindow).Sub(now)}
	}
	if until, paused := a.paused(now); paused {
		return &RateLimitedError{RetryAfter: until.Sub(now), Everyone: true}
	}
	if secret == "" {
		return ErrCodeRequired
	}
	if equal(secret, a.code) {
		return nil
	}
	if _, known := a.wrong[ip]; !known && len(a.wrong) >= maxAddresses {
		if a.prune(now); len(a.wrong) >= maxAddresses {
			return &RateLimitedError{RetryAfter: WrongCodeWindow, Everyone: true}
		}
	}
	a.wrong[ip] = append(a.wrong[ip], now)
	a.total = append(a.total, now)
	a.sinceNew++
	if a.sinceNew >= NewCodeAfter {
		wrong := a.sinceNew
		a.code, a.sinceNew, a.newCodeAt = newCode(), 0, now
		return &NewCodeError{Code: a.code, Wrong: wrong}
	}
	return ErrBadCode
}

// recent is ip's wrong tries within the window before now (older ones are dropped).
func (a *Access) recent(ip string, now time.Time) []time.Time {
	tries := a.wrong[ip]
	i := 0
	for i < len(tries) && !now.Before(tries[i].Add(WrongCodeWindow)) {
		i++
	}
	tries = tries[i:]
	if len(tries) == 0 {
		delete(a.wrong, ip)
		return nil
	}
	a.wrong[ip] = tries
	return tries
}

// paused reports whether everyone's wrong tries within TotalWindow reached
// MaxWrongCodesTotal, and until when.
func (a *Access) paused(now time.Time) (until time.Time, paused bool) {
	i := 0
	for i < len(a.total) && !now.Before(a.total[i].Add(TotalWindow)) {
		i++
	}
	a.total = a.total[i:]
	if len(a.total) < MaxWrongCodesTotal {
		return time.Time{}, false
	}
	return a.total[len(a.total)-MaxWrongCodesTotal].Add(TotalWindow), true
}

// prune forgets the addresses with no wrong try within the window. An
// address that is waiting is never forgotten (that would give it fresh tries).
func (a *Access) prune(now time.Time) {
	for ip := range a.wrong {
		a.recent(ip, now)
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// Notice is what the host's window says about the code and the QR code, or
// "": that typing the code waits for everyone now, that someone's guessing
// made a new code, that a kick made a new QR code.
func (a *Access) Notice() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	var text string
	if until, paused := a.paused(now); paused {
		text = fmt.Sprintf("Too many wrong room codes: typing the code waits for everyone for %d s (scanning the QR code still works).",
			(&RateLimitedError{RetryAfter: until.Sub(now)}).Seconds())
	}
	if !a.newCodeAt.IsZero() {
		if text != "" {
			text += "\n"
		}
		text += fmt.Sprintf("Someone was guessing the room code (%d wrong codes), so at %s the host made a new one: %s.",
			NewCodeAfter, a.newCodeAt.Format("15:04"), a.code)
	}
	if !a.newKeyAt.IsZero() {
		if text != "" {
			text += "\n"
		}
		text += fmt.Sprintf("A player was kicked at %s, so the QR code is new (the old one no longer lets anyone in).", a.newKeyAt.Format("15:04"))
	}
	return text
}

// Admit remembers a session token given to a page that got in, so its
// reconnects need no code.
func (a *Access) Admit(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.admitted[token]; ok || token == "" {
		return
	}
	if len(a.order) >= maxAdmitted {
		delete(a.admitted, a.order[0])
		a.order = a.order[1:]
	}
	a.admitted[token] = struct{}{}
	a.order = append(a.order, token)
}

// Admitted reports whether token belongs to a page that got in.
func (a *Access) Admitted(token string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.admitted[token]
	return ok && token != ""
}

// Revoke forgets a token (its page was kicked).
func (a *Access) Revoke(token string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.admitted, token)
}
