package emu

import (
	"image"
	"time"
)

// Clock is the time source of the frame loop; tests inject a fake one so that
// timing is checked without wall-clock assertions.
type Clock interface {
	Now() time.Time
	// Sleep blocks until d has passed or stop is closed.
	Sleep(d time.Duration, stop <-chan struct{})
}

// InputSource reports the newest button state of each port; the loop asks it
// right before every frame so input is never older than one frame.
type InputSource interface {
	Buttons(port int) Buttons
}

// FrameSink receives every emulated frame. It runs on the loop goroutine and
// must not keep frame or audio after it returns.
type FrameSink func(frame *image.RGBA, audio []int16, info Info)
