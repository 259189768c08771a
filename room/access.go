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
// a reconnect needs neither. Wrong tries are limited per client address.
const (
	MaxWrongCodes   = 5           // wrong codes an address may try…
	WrongCodeWindow = time.Minute // …within this long; then every try waits
	// maxAdmitted caps the remembered session tokens (the oldest go first).
	maxAdmitted = 4096
	// maxAddresses caps the addresses with wrong tries remembered.
	maxAddresses = 4096
)

var (
	// ErrCodeRequired: the join showed neither the room code nor the key.
	ErrCodeRequired = errors.New("this room needs its code: type the 4 digits shown on the host's screen")
	// ErrBadCode: the code (or key) shown is wrong.
	ErrBadCode = errors.New("wrong code: check the 4 digits on the host's screen")
)

// RateLimitedError refuses a try from an address that had MaxWrongCodes wrong
// ones within WrongCodeWindow; RetryAfter is when it may try again.
type RateLimitedError struct{ RetryAfter time.Duration }

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many wrong codes: try again in %d s", e.Seconds())
}

// Seconds is RetryAfter rounded up to whole seconds (at least 1).
func (e *RateLimitedError) Seconds() int {
	s := int((e.RetryAfter + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Access holds a room's code, key, the admitted session tokens and the wrong
// tries per address. Safe for concurrent use.
type Access struct {
	code, key string

	mu       sync.Mutex
	admitted map[string]struct{}
	order    []string               // admitted tokens, oldest first
	wrong    map[string][]time.Time // address -> times of its wrong tries within the window
}

// NewAccess makes a fresh random room code and join key.
func NewAccess() *Access {
	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported systems
	}
	return NewAccessWith(fmt.Sprintf("%04d", n.Int64()), rand.Text())
}

// NewAccessWith uses the given code and key (tests).
func NewAccessWith(code, key string) *Access {
	return &Access{code: code, key: key, admitted: map[string]struct{}{}, wrong: map[string][]time.Time{}}
}

// Code is the 4-digit room code.
func (a *Access) Code() string { return a.code }

// Key is the join key the QR code carries (/#key=…).
func (a *Access) Key() string { return a.key }

// Check judges a try from address ip showing secret (the room code or the join
// key): nil lets it in; ErrCodeRequired for an empty secret (not counted as a
// wrong try); ErrBadCode, counted; *RateLimitedError while ip has had
// MaxWrongCodes wrong tries within WrongCodeWindow, whatever it shows.
func (a *Access) Check(ip, secret string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	tries := a.recent(ip, now)
	if len(tries) >= MaxWrongCodes {
		return &RateLimitedError{RetryAfter: tries[len(tries)-MaxWrongCodes].Add(WrongCodeWindow).Sub(now)}
	}
	if secret == "" {
		return ErrCodeRequired
	}
	if equal(secret, a.code) || equal(secret, a.key) {
		return nil
	}
	if _, known := a.wrong[ip]; !known && len(a.wrong) >= maxAddresses {
		a.prune(now)
	}
	a.wrong[ip] = append(tries, now)
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

// prune forgets the addresses with no wrong try within the window; if all
// have one, it forgets them all (an address flood must not hold memory).
func (a *Access) prune(now time.Time) {
	for ip := range a.wrong {
		a.recent(ip, now)
	}
	if len(a.wrong) >= maxAddresses {
		clear(a.wrong)
	}
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

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
