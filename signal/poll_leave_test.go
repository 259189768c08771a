package signal

import (
	"testing"
)

// A page in poll mode says leave with sendBeacon as it goes and never polls
// again: the leave itself gives its connection place back, not the idle
// timeout 30 s later (a page that reloads a few times must not lock itself
// out, and make soak's poll clients must not fill the cap).
func TestPollLeaveGivesThePlaceBackAtOnce(t *testing.T) {
	h := startHostConfig(t, 4, nil, func(c *Config) { c.MaxConnsPerIP = 3 })
	for i := 0; i < 8; i++ {
		c := openPoll(t, h) // fails the test with the 429 once the cap is full
		c.send(`{"type":"join","watch":true}`)
		c.send(`{"type":"leave"}`)
	}
}
