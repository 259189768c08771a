// Package testutil holds helpers that tests of several packages share; no
// production code imports it.
package testutil

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer that a host's goroutines (or an exec copier) may
// write while the test reads it.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String is everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
