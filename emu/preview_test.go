package emu

import (
	"image"
	"image/color"
	"testing"
)

func TestPreviewCopiesOnlyWhileWatched(t *testing.T) {
	var p Preview
	frame := image.NewRGBA(image.Rect(0, 0, 4, 3))
	fillRGBA(frame, 255, 255, 255)
	p.Store(frame)
	if _, _, ok := p.Latest(nil, 0); ok {
		t.Fatal("a frame was kept while nobody watched")
	}
	p.Watch(true)
	p.Store(frame)
	img, seq, ok := p.Latest(nil, 0)
	if !ok || img.Bounds().Dx() != 4 || img.RGBAAt(3, 2) != (color.RGBA{255, 255, 255, 255}) {
		t.Fatalf("Latest = %v %v %v", img.Bounds(), img.RGBAAt(3, 2), ok)
	}
	fillRGBA(frame, 0, 0, 0) // the loop reuses its frame: the copy must not change
	if img.RGBAAt(0, 0) != (color.RGBA{255, 255, 255, 255}) {
		t.Error("the preview aliases the loop's frame")
	}
	if _, _, ok := p.Latest(img, seq); ok {
		t.Error("Latest reported a new frame without a Store")
	}
	// A sub-image (non-zero origin, wider stride) and a size change.
	big := image.NewRGBA(image.Rect(0, 0, 10, 10))
	fillRGBA(big, 255, 0, 0)
	p.Store(big.SubImage(image.Rect(2, 2, 8, 7)).(*image.RGBA))
	img, _, ok = p.Latest(img, seq)
	if !ok || img.Bounds().Dx() != 6 || img.Bounds().Dy() != 5 || img.RGBAAt(5, 4) != (color.RGBA{255, 0, 0, 255}) {
		t.Errorf("after a size change: %v %v", img.Bounds(), img.RGBAAt(5, 4))
	}
}
