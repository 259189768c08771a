package lightcycles

import (
	"couchplay/emu"
	"encoding/binary"
	"image"
)

// Drawing of the Light Cycles game: a score bar on top, the grid below, and the
// round messages in a tiny built-in 3x5 pixel font. Everything writes straight
// into the reused frame's Pix, so a frame costs no allocation.

const (
	cellPx    = 2  // pixels per grid cell (drawGame's fast path assumes 2)
	barHeight = 16 // score bar height in pixels
	gridW     = builtinWidth / cellPx
	gridH     = (builtinHeight - barHeight) / cellPx
)

type rgb [3]uint8

// Rider colours, loosely those of the test card (P1 yellow rather than white so
// its head, drawn white, stands out).
var (
	riderColours = [emu.Ports]rgb{{255, 220, 40}, {255, 50, 50}, {50, 230, 70}, {70, 120, 255}}
	colourBar    = rgb{24, 24, 36}
	colourWall   = rgb{90, 90, 120}
	colourField  = rgb{0, 0, 0}
	colourHead   = rgb{255, 255, 255}
	colourDim    = rgb{70, 70, 80}
	colourText   = rgb{230, 230, 230}
)

// packRGB is c as the little-endian uint32 of an opaque RGBA pixel.
func packRGB(c rgb) uint32 {
	return uint32(c[0]) | uint32(c[1])<<8 | uint32(c[2])<<16 | 0xFF<<24
}

// dim halves a colour: the trail of a crashed rider.
func dim(c rgb) rgb { return rgb{c[0] / 2, c[1] / 2, c[2] / 2} }

// font3x5 holds one glyph per byte: five rows of three bits, bit 2 = left column.
var font3x5 = [128][5]uint8{
	'0': {7, 5, 5, 5, 7}, '1': {2, 6, 2, 2, 7}, '2': {7, 1, 7, 4, 7}, '3': {7, 1, 7, 1, 7},
	'4': {5, 5, 7, 1, 1}, '5': {7, 4, 7, 1, 7}, '6': {7, 4, 7, 5, 7}, '7': {7, 1, 1, 2, 2},
	'8': {7, 5, 7, 5, 7}, '9': {7, 5, 7, 1, 7},
	'A': {2, 5, 7, 5, 5}, 'B': {6, 5, 6, 5, 6}, 'C': {3, 4, 4, 4, 3}, 'D': {6, 5, 5, 5, 6},
	'E': {7, 4, 6, 4, 7}, 'F': {7, 4, 6, 4, 4}, 'G': {3, 4, 5, 5, 3}, 'H': {5, 5, 7, 5, 5},
	'I': {7, 2, 2, 2, 7}, 'J': {1, 1, 1, 5, 2}, 'K': {5, 5, 6, 5, 5}, 'L': {4, 4, 4, 4, 7},
	'M': {5, 7, 7, 5, 5}, 'N': {6, 5, 5, 5, 5}, 'O': {2, 5, 5, 5, 2}, 'P': {6, 5, 6, 4, 4},
	'Q': {2, 5, 5, 6, 3}, 'R': {6, 5, 6, 5, 5}, 'S': {3, 4, 2, 1, 6}, 'T': {7, 2, 2, 2, 2},
	'U': {5, 5, 5, 5, 7}, 'V': {5, 5, 5, 5, 2}, 'W': {5, 5, 7, 7, 5}, 'X': {5, 5, 2, 5, 5},
	'Y': {5, 5, 2, 2, 2}, 'Z': {7, 1, 2, 4, 7},
	'-': {0, 0, 7, 0, 0}, '!': {2, 2, 2, 0, 2}, ':': {0, 2, 0, 2, 0}, '.': {0, 0, 0, 0, 2},
}

// fillRect paints [x0,x1)x[y0,y1), clipped to the image.
func fillRect(img *image.RGBA, x0, y0, x1, y1 int, c rgb) {
	b := img.Bounds()
	x0, y0 = max(x0, b.Min.X), max(y0, b.Min.Y)
	x1, y1 = min(x1, b.Max.X), min(y1, b.Max.Y)
	for y := y0; y < y1; y++ {
		row := img.Pix[img.PixOffset(x0, y):img.PixOffset(x1, y)]
		for i := 0; i < len(row); i += 4 {
			row[i], row[i+1], row[i+2], row[i+3] = c[0], c[1], c[2], 255
		}
	}
}

// textWidth is the width in pixels of s drawn at scale.
func textWidth(s string, scale int) int {
	if len(s) == 0 {
		return 0
	}
	return (len(s)*4 - 1) * scale
}

// drawText draws s (upper case, digits, a few signs) with its top-left at x, y.
func drawText(img *image.RGBA, x, y, scale int, s string, c rgb) {
	for i := 0; i < len(s); i++ {
		drawGlyph(img, x+i*4*scale, y, scale, s[i], c)
	}
}

func drawGlyph(img *image.RGBA, x, y, scale int, ch byte, c rgb) {
	if ch >= 128 {
		return
	}
	g := font3x5[ch]
	for row := range 5 {
		for col := range 3 {
			if g[row]&(4>>col) != 0 {
				fillRect(img, x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale, c)
			}
		}
	}
}

// drawNumber draws n (0..99, two digits) without formatting a string.
func drawNumber(img *image.RGBA, x, y, scale, n int, c rgb) {
	n = min(max(n, 0), 99)
	drawGlyph(img, x, y, scale, byte('0'+n/10), c)
	drawGlyph(img, x+4*scale, y, scale, byte('0'+n%10), c)
}

// drawCentred draws s centred horizontally on the field at y, on a dark plate.
func drawCentred(img *image.RGBA, y, scale int, s string, c rgb) {
	w := textWidth(s, scale)
	x := (builtinWidth - w) / 2
	fillRect(img, x-scale*2, y-scale*2, x+w+scale*2, y+5*scale+scale*2, colourField)
	drawText(img, x, y, scale, s, c)
}

var (
	winText   = [emu.Ports]string{"P1 WINS", "P2 WINS", "P3 WINS", "P4 WINS"}
	digitText = [10]string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}
)

// drawGame renders the whole frame from the game state.
func drawGame(img *image.RGBA, g *Cycles) {
	// Score bar: "P1 03" per port; "P1 --" in grey for a free port.
	fillRect(img, 0, 0, builtinWidth, barHeight, colourBar)
	for p, c := range g.Players {
		x := 8 + p*64
		col := riderColours[p]
		if !c.Joined {
			col = colourDim
		}
		drawGlyph(img, x, 3, 2, 'P', col)
		drawGlyph(img, x+8, 3, 2, byte('1'+p), col)
		if c.Joined {
			drawNumber(img, x+24, 3, 2, c.Score, col)
		} else {
			drawText(img, x+24, 3, 2, "--", col)
		}
	}

	// Field: each cell is cellPx x cellPx pixels. Build one pixel row per cell
	// row with 32-bit stores, then copy it down: this is the hot loop of a frame.
	var palette [256]uint32
	for i := range palette {
		palette[i] = packRGB(colourWall)
	}
	palette[cellEmpty] = packRGB(colourField)
	for p, c := range g.Players {
		col := riderColours[p]
		if c.InRound && !c.Alive {
			col = dim(col)
		}
		palette[p+1] = packRGB(col)
	}
	width := min(g.W*cellPx, img.Bounds().Dx())
	for cy := range g.H {
		off := img.PixOffset(0, barHeight+cy*cellPx)
		row := img.Pix[off : off+width*4]
		cells := g.Cells[cy*g.W : cy*g.W+width/cellPx]
		for cx, v := range cells {
			// cellPx is 2: one 64-bit store paints the cell's two pixels.
			col := uint64(palette[v])
			binary.LittleEndian.PutUint64(row[cx*8:], col|col<<32)
		}
		for dy := 1; dy < cellPx; dy++ {
			copy(img.Pix[off+dy*img.Stride:], row)
		}
	}
	for _, c := range g.Players {
		if c.Alive {
			x, y := c.X*cellPx, barHeight+c.Y*cellPx
			fillRect(img, x, y, x+cellPx, y+cellPx, colourHead)
		}
	}

	// Messages.
	mid := barHeight + (builtinHeight-barHeight)/2
	switch g.Phase {
	case PhaseLobby:
		drawCentred(img, mid-20, 2, "LIGHT CYCLES", colourText)
		drawCentred(img, mid+4, 2, "PRESS ANY BUTTON", colourText)
	case PhaseCountdown:
		n := (g.Timer + countdownTick - 1) / countdownTick
		drawCentred(img, mid-15, 6, digitText[min(max(n, 0), 9)], colourText)
	case PhaseRoundOver:
		if g.Winner > 0 {
			drawCentred(img, mid-10, 3, winText[g.Winner-1], riderColours[g.Winner-1])
		} else {
			drawCentred(img, mid-10, 3, "NO WINNER", colourText)
		}
	}
}
