package room

import (
	"errors"
	"regexp"
	"slices"
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
	// A kicked player's token is no longer a slot's: a rejoin with it is a new joiner.
	m3, slot, _, _ := r.Rejoin(m1.Token, 0, false, nil)
	if m3.Token == m1.Token || slot != 1 {
		t.Fatalf("rejoin with a kicked token: token reused %v, slot %d", m3.Token == m1.Token, slot)
	}
	if players, _ := r.Roster(); !slices.Equal(players, []int{1}) {
		t.Fatalf("players %v", players)
	}
}
