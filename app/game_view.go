package app

import (
	"context"
	"image"
	"time"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/canvas"

	"couchplay/emu"
)

// previewInterval: the window's view of the game refreshes at 30 fps — the
// TV-side screen for a couch that plays on phones, at half the encoder's rate
// to keep the host's CPU for the game and the stream.
const previewInterval = time.Second / 30

// gameView shows the running game live in the window, scaled with sharp
// pixels, from the host's Preview (a copy the frame loop makes only while the
// window watches).
type gameView struct {
	image   *canvas.Image
	preview *emu.Preview
	shown   *image.RGBA // what the canvas draws: never written
	spare   *image.RGBA // the next frame is copied here
	seq     uint64
}

func newGameView(p *emu.Preview) *gameView {
	v := &gameView{preview: p, image: canvas.NewImageFromImage(image.NewRGBA(image.Rect(0, 0, 256, 240)))}
	v.image.FillMode = canvas.ImageFillContain
	v.image.ScaleMode = canvas.ImageScalePixels
	v.image.SetMinSize(fyne.NewSize(256, 240))
	return v
}

// update shows the newest frame, if there is one; on the UI goroutine.
func (v *gameView) update() {
	if v.preview == nil {
		return
	}
	// Two frames alternate, so the one the canvas draws is never written.
	img, seq, ok := v.preview.Latest(v.spare, v.seq)
	if !ok {
		return
	}
	v.spare, v.shown, v.seq = v.shown, img, seq
	v.image.Image = img
	v.image.Refresh()
}

// run refreshes the view until ctx ends; the loop copies frames only meanwhile.
func (v *gameView) run(ctx context.Context) {
	if v.preview == nil {
		return
	}
	v.preview.Watch(true)
	defer v.preview.Watch(false)
	tick := time.NewTicker(previewInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			fyne.Do(v.update)
		}
	}
}
