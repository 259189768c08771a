package emu

import (
	"image"
	"sync"
	"sync/atomic"
)

// Preview keeps a copy of the newest frame for a screen on the host itself
// (the window's live game view). The frame loop stores into it only while
// someone watches, and nobody outside the loop ever holds the loop's frame.
type Preview struct {
	want     atomic.Bool
	onChange atomic.Pointer[func()]
	mu       sync.Mutex
	img      *image.RGBA
	seq      uint64
}

// Watch turns copying on or off (off costs the loop one atomic load a frame).
func (p *Preview) Watch(on bool) {
	if p.want.Swap(on) != on {
		if fn := p.onChange.Load(); fn != nil {
			(*fn)()
		}
	}
}

// Watched reports whether a screen on the host shows the game now.
func (p *Preview) Watched() bool { return p.want.Load() }

// OnChange sets fn to run each time Watch turns copying on or off.
func (p *Preview) OnChange(fn func()) { p.onChange.Store(&fn) }

// Store copies frame; it is a FrameSink's job, on the loop goroutine.
func (p *Preview) Store(frame *image.RGBA) {
	if !p.want.Load() || frame == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.img = copyRGBA(p.img, frame)
	p.seq++
}

// Latest copies the newest frame into dst (reused when its size fits) if it
// is newer than seen, and returns it with its sequence number; ok is false
// when there is nothing newer.
func (p *Preview) Latest(dst *image.RGBA, seen uint64) (img *image.RGBA, seq uint64, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.img == nil || p.seq == seen {
		return dst, seen, false
	}
	return copyRGBA(dst, p.img), p.seq, true
}

// copyRGBA copies src into dst, making a new dst when the size changed.
func copyRGBA(dst, src *image.RGBA) *image.RGBA {
	b := src.Bounds()
	if dst == nil || dst.Bounds().Size() != b.Size() {
		dst = image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	}
	rowBytes := b.Dx() * 4
	for y := range b.Dy() {
		si := src.PixOffset(b.Min.X, b.Min.Y+y)
		copy(dst.Pix[y*dst.Stride:y*dst.Stride+rowBytes], src.Pix[si:si+rowBytes])
	}
	return dst
}
