package room

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestNewAccessMakesACodeAndALongKey(t *testing.T) {
	a, b := NewAccess(), NewAccess()
	if !regexp.MustCompile(`^\d{4}$`).MatchString(a.Code()) {
		t.Fatalf("code %q is not 4 digits", a.Code())
	}
	if len(a.Key()) < 20 || a.Key() == b.Key() {
		t.Fatalf("keys %q %q: want long and random", a.Key(), b.Key())
	}
}

func TestCheckCodeAndKey(t *testing.T) {
	a := NewAccessWith("4821", "the-join-key")
	for _, ok := range []string{"4821", "the-join-key"} {
		if err := a.Check("10.0.0.2", ok); err != nil {
			t.Fatalf("Check(%q): %v", ok, err)
		}
	}
	if err := a.Check("10.0.0.2", ""); !errors.Is(err, ErrCodeRequired) {
		t.Fatalf("no code: %v, want ErrCodeRequired", err)
	}
	for _, bad := range []string{"1234", "482", "48210", "the-join-ke"} {
		if err := a.Check("10.0.0.3", bad); !errors.Is(err, ErrBadCode) {
			t.Fatalf("Check(%q): %v, want ErrBadCode", bad, err)
		}
	}
}

// After MaxWrongCodes wrong tries within a minute every try from that address
// (even the right code) is refused until the oldest of them is a minute old;
// other addresses are not affected.
func TestWrongCodesAreRateLimitedPerAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := NewAccessWith("4821", "key")
		for i := range MaxWrongCodes {
			if err := a.Check("10.0.0.2", "0000"); !errors.Is(err, ErrBadCode) {
				t.Fatalf("wrong try %d: %v", i+1, err)
			}
			time.Sleep(5 * time.Second)
		}
		// 25 s after the first wrong try: 35 s to wait.
		var rl *RateLimitedError
		if err := a.Check("10.0.0.2", "0000"); !errors.As(err, &rl) || rl.Seconds() != 35 {
			t.Fatalf("sixth try: %v, want rate limited for 35 s", err)
		}
		if err := a.Check("10.0.0.2", "4821"); !errors.As(err, &rl) {
			t.Fatalf("right code while limited: %v, want rate limited", err)
		}
		if err := a.Check("10.0.0.9", "4821"); err != nil {
			t.Fatalf("another address: %v", err)
		}
		time.Sleep(rl.RetryAfter - time.Millisecond)
		if err := a.Check("10.0.0.2", "4821"); !errors.As(err, &rl) {
			t.Fatalf("just before the wait is over: %v, want rate limited", err)
		}
		time.Sleep(time.Millisecond)
		// The oldest wrong try has left the window: 4 remain, so one more wrong try is allowed…
		if err := a.Check("10.0.0.2", "4821"); err != nil {
			t.Fatalf("after the wait: %v", err)
		}
		if err := a.Check("10.0.0.2", "1111"); !errors.Is(err, ErrBadCode) {
			t.Fatalf("fifth wrong try in the window: %v", err)
		}
		// …and then it is limited again, until the second try is a minute old (5 s).
		if err := a.Check("10.0.0.2", "4821"); !errors.As(err, &rl) || rl.Seconds() != 5 {
			t.Fatalf("limited again: %v, want 5 s", err)
		}
		time.Sleep(2 * WrongCodeWindow)
		if err := a.Check("10.0.0.2", "4821"); err != nil {
			t.Fatalf("a while later: %v", err)
		}
		if len(a.wrong) != 0 {
			t.Fatalf("wrong tries remembered after the window: %v", a.wrong)
		}
	})
}

func TestAdmittedTokens(t *testing.T) {
	a := NewAccessWith("4821", "key")
	if a.Admitted("t1") || a.Admitted("") {
		t.Fatal("admitted before Admit")
	}
	a.Admit("t1")
	if !a.Admitted("t1") {
		t.Fatal("not admitted after Admit")
	}
	a.Revoke("t1")
	if a.Admitted("t1") {
		t.Fatal("admitted after Revoke")
	}
}

func TestKickAndMoveToSpectator(t *testing.T) {
	r := New(4)
	r.SetAccess(NewAccessWith("4821", "key"))
	m1, _, _, _ := r.Rejoin("", 0, false, nil)
	m2, _, _, _ := r.Rejoin("", 0, false, nil)
	r.Access().Admit(m1.Token)
	if _, err := r.Kick(3); !errors.Is(err, ErrNoPlayer) {
		t.Fatalf("kick a free slot: %v", err)
	}
	if _, err := r.Kick(7); err == nil {
		t.Fatal("kick slot 7: no error")
	}
	if got, err := r.Kick(1); err != nil || got != m1 {
		t.Fatalf("kick 1: %v %v", got, err)
	}
	if r.Access().Admitted(m1.Token) {
		t.Fatal("kicked token still admitted")
	}
	if got, err := r.MoveToSpectator(2); err != nil || got != m2 {
		t.Fatalf("move 2: %v %v", got, err)
	}
	if players, spectators := r.Roster(); len(players) != 0 || spectators != 1 || r.Slot(m2) != 0 {
		t.Fatalf("roster %v %d, slot %d", players, spectators, r.Slot(m2))
	}
	// A kicked player's token lets it in no more; a fresh join takes the free slot.
	if _, _, _, err := r.Rejoin(m1.Token, 0, false, nil); !errors.Is(err, ErrKicked) {
		t.Fatalf("rejoin with a kicked token: %v, want ErrKicked", err)
	}
	if m3, slot, _, _ := r.Rejoin("", 0, false, nil); m3.Token == m1.Token || slot != 1 {
		t.Fatalf("a fresh join: token reused %v, slot %d", m3.Token == m1.Token, slot)
	}
	if players, _ := r.Roster(); !slices.Equal(players, []int{1}) {
		t.Fatalf("players %v", players)
	}
}

// Wrong codes are limited in total too: MaxWrongCodesTotal of them from any
// number of addresses within TotalWindow pause typing a code for everyone,
// the right code too (so the answer tells nothing), while the join key still
// lets anyone in, a limited address too.
func TestWrongCodesAreLimitedInTotal(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := NewAccessWith("4821", "key")
		for i := range MaxWrongCodesTotal {
			if err := a.Check(fmt.Sprintf("10.1.%d.%d", i/256, i%256), "0000"); !errors.Is(err, ErrBadCode) {
				t.Fatalf("wrong try %d: %v", i+1, err)
			}
			time.Sleep(time.Second)
		}
		var rl *RateLimitedError
		for _, secret := range []string{"4821", "1234", ""} {
			if err := a.Check("10.9.9.9", secret); !errors.As(err, &rl) || !rl.Everyone {
				t.Fatalf("a fresh address showing %q after %d wrong codes in all: %v, want a pause for everyone", secret, MaxWrongCodesTotal, err)
			}
		}
		// The first wrong try was 30 s ago: it leaves the window in TotalWindow-30 s.
		if want := int((TotalWindow - MaxWrongCodesTotal*time.Second) / time.Second); rl.Seconds() != want {
			t.Fatalf("retry after %d s, want %d", rl.Seconds(), want)
		}
		if err := a.Check("10.9.9.9", "key"); err != nil {
			t.Fatalf("the join key during the pause: %v", err)
		}
		if !strings.Contains(a.Notice(), "waits for everyone") {
			t.Fatalf("notice during the pause: %q", a.Notice())
		}
		time.Sleep(rl.RetryAfter)
		if err := a.Check("10.9.9.9", "4821"); err != nil {
			t.Fatalf("the right code after the pause: %v", err)
		}
		if a.Notice() != "" {
			t.Fatalf("notice after the pause: %q", a.Notice())
		}
	})
}

// A phone that typed wrong codes until it was limited still joins with the
// QR code's key at once.
func TestTheKeyIsNeverRateLimited(t *testing.T) {
	a := NewAccessWith("4821", "key")
	for range MaxWrongCodes + 3 {
		a.Check("10.0.0.2", "0000")
	}
	var rl *RateLimitedError
	if err := a.Check("10.0.0.2", "4821"); !errors.As(err, &rl) {
		t.Fatalf("the code from a limited address: %v, want rate limited", err)
	}
	if err := a.Check("10.0.0.2", "key"); err != nil {
		t.Fatalf("the key from a limited address: %v", err)
	}
}

// After NewCodeAfter wrong codes in all the host makes a new room code (the
// try that did it says so); the old code no longer works, the new one and
// the key do, and the window's notice says someone was guessing.
func TestGuessingMakesANewCode(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := NewAccessWith("4821", "key")
		var made *NewCodeError
		for i := range NewCodeAfter {
			err := a.Check(fmt.Sprintf("10.2.%d.%d", i/256, i%256), "0000")
			if errors.As(err, &made) {
				if i != NewCodeAfter-1 {
					t.Fatalf("new code after %d wrong tries, want %d", i+1, NewCodeAfter)
				}
				break
			}
			if !errors.Is(err, ErrBadCode) {
				t.Fatalf("wrong try %d: %v", i+1, err)
			}
			time.Sleep(TotalWindow / MaxWrongCodesTotal) // the fastest pace the total allows
		}
		if made == nil || !errors.Is(made, ErrBadCode) || made.Code != a.Code() || made.Wrong != NewCodeAfter {
			t.Fatalf("no new code reported: %+v (code now %s)", made, a.Code())
		}
		if !strings.Contains(a.Notice(), "Someone was guessing the room code") || !strings.Contains(a.Notice(), a.Code()) {
			t.Fatalf("notice %q", a.Notice())
		}
		time.Sleep(TotalWindow)
		if a.Code() != "4821" {
			if err := a.Check("10.3.0.1", "4821"); !errors.Is(err, ErrBadCode) {
				t.Fatalf("the old code: %v", err)
			}
		}
		if err := a.Check("10.3.0.2", a.Code()); err != nil {
			t.Fatalf("the new code: %v", err)
		}
		if err := a.Check("10.3.0.3", "key"); err != nil {
			t.Fatalf("the key: %v", err)
		}
	})
}

// An address flood never frees an address that is waiting: it keeps waiting
// for its own minute whatever the others do.
func TestPruneNeverFreesALimitedAddress(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := NewAccessWith("4821", "key")
		for range MaxWrongCodes {
			a.Check("10.0.0.1", "0000")
		}
		for i := range maxAddresses + 10 {
			a.Check(fmt.Sprintf("10.4.%d.%d", i/256, i%256), "0000")
		}
		var rl *RateLimitedError
		if err := a.Check("10.0.0.1", "4821"); !errors.As(err, &rl) || rl.Everyone {
			t.Fatalf("the limited address after a flood of %d others: %v, want still limited itself", maxAddresses, err)
		}
		// Even with the table full of addresses that are waiting (as if the
		// total let them all in), a new address waits rather than clearing it.
		synctest.Wait()
		now := time.Now()
		for i := range maxAddresses {
			a.wrong[fmt.Sprintf("10.5.%d.%d", i/256, i%256)] = []time.Time{now}
		}
		a.total = nil
		if err := a.Check("10.6.0.1", "0000"); !errors.As(err, &rl) {
			t.Fatalf("a new address with the table full: %v, want it to wait", err)
		}
		if err := a.Check("10.0.0.1", "4821"); !errors.As(err, &rl) || rl.Everyone {
			t.Fatalf("the limited address with the table full: %v, want still limited itself", err)
		}
	})
}

// Kick keeps the page out: its token (the one it keeps, across watching and
// rejoining) gets ErrKicked, is no longer admitted, and the QR code's key it
// scanned is replaced; the other pages keep their tokens.
func TestKickKeepsThePageOut(t *testing.T) {
	r := New(4)
	a := NewAccessWith("4821", "key")
	r.SetAccess(a)
	p, _, _, _ := r.Rejoin("", 0, false, nil)
	other, _, _, _ := r.Rejoin("", 0, false, nil)
	a.Admit(p.Token)
	a.Admit(other.Token)
	// The page goes to watch and comes back: still one token.
	r.Leave(p)
	w, _, _, _ := r.Rejoin(p.Token, 0, true, nil)
	r.Leave(w)
	back, slot, _, _ := r.Rejoin(w.Token, 0, false, nil)
	if w.Token != p.Token || back.Token != p.Token || slot != 1 {
		t.Fatalf("tokens %s %s %s, slot %d: want the page's token kept, slot 1", p.Token, w.Token, back.Token, slot)
	}
	if _, err := r.Kick(1); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{p.Token, w.Token, back.Token} {
		if _, _, _, err := r.Rejoin(tok, 0, false, nil); !errors.Is(err, ErrKicked) {
			t.Fatalf("rejoin with the kicked page's token: %v, want ErrKicked", err)
		}
		if a.Admitted(tok) || !r.Kicked(tok) {
			t.Fatal("the kicked token is still admitted, or not known as kicked")
		}
	}
	if a.Key() == "key" {
		t.Fatal("the join key was not replaced")
	}
	if err := a.Check("10.0.0.7", "key"); !errors.Is(err, ErrBadCode) {
		t.Fatalf("the old key: %v, want ErrBadCode", err)
	}
	if err := a.Check("10.0.0.7", a.Key()); err != nil {
		t.Fatalf("the new key: %v", err)
	}
	if !a.Admitted(other.Token) || r.Kicked(other.Token) {
		t.Fatal("another page lost its token")
	}
	// A stale key is not a guess: it does not count against the address.
	for range MaxWrongCodes + 1 {
		a.Check("10.0.0.8", "key")
	}
	if err := a.Check("10.0.0.8", "4821"); err != nil {
		t.Fatalf("the code after stale keys: %v", err)
	}
}

// A page the host moved to the spectators watches after a reload (a leave,
// then a join with its token and no ?watch), whatever slot it asks for.
func TestWatchSticksAcrossAReload(t *testing.T) {
	r := New(4)
	p, _, _, _ := r.Rejoin("", 0, false, nil)
	if _, err := r.MoveToSpectator(1); err != nil {
		t.Fatal(err)
	}
	r.Leave(p)
	for _, want := range []int{0, 1} {
		m, slot, notice, err := r.Rejoin(p.Token, want, false, nil)
		if err != nil || slot != 0 || m.Token != p.Token || notice == "" {
			t.Fatalf("reload asking for slot %d: slot %d notice %q err %v, want a spectator with its token", want, slot, notice, err)
		}
		r.Leave(m)
	}
	// A page that was not moved gets a free slot as before.
	q, _, _, _ := r.Rejoin("", 0, true, nil)
	r.Leave(q)
	if _, slot, _, _ := r.Rejoin(q.Token, 0, false, nil); slot != 1 {
		t.Fatalf("a page that chose to watch, reloaded without ?watch: slot %d, want 1", slot)
	}
}
