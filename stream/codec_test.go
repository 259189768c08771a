package stream

import (
	"encoding/binary"
	"image"
	"image/color"
	"math/rand/v2"
	"strings"
	"testing"

	"couchplay/internal/vp8dec"
)

// newYUVPlanes allocates Go-owned planes for the tests and benchmarks (the
// encoder writes into C memory instead).
func newYUVPlanes(width, height int) yuvPlanes {
	cw, ch := (width+1)/2, (height+1)/2
	return yuvPlanes{
		Width: width, Height: height,
		Y: make([]byte, width*height), U: make([]byte, cw*ch), V: make([]byte, cw*ch),
		YStride: width, UVStride: cw,
	}
}

const (
	testWidth  = 256
	testHeight = 240
	testFPS    = 60.0
)

func solidRGBA(w, h int, c color.RGBA) *image.RGBA {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for i := 0; i < len(img.Pix); i += 4 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2], img.Pix[i+3] = c.R, c.G, c.B, c.A
	}
	return img
}

// pattern draws a picture that changes with frame n: moving bars and a
// moving block, like a scrolling game screen.
func pattern(img *image.RGBA, n int) {
	b := img.Rect
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			i := img.PixOffset(x, y)
			img.Pix[i] = byte((x + n) * 4)
			img.Pix[i+1] = byte((y + 2*n) * 3)
			img.Pix[i+2] = byte(x ^ y)
			img.Pix[i+3] = 255
			if (x-n*3)&255 < 32 && (y+n)&255 < 32 {
				img.Pix[i], img.Pix[i+1], img.Pix[i+2] = 255, 255, 255
			}
		}
	}
}

func absDiff(a, b byte) int {
	if a > b {
		return int(a - b)
	}
	return int(b - a)
}

func TestYUVKnownColours(t *testing.T) {
	cases := []struct {
		name    string
		c       color.RGBA
		y, u, v byte
	}{
		{"white", color.RGBA{255, 255, 255, 255}, 235, 128, 128},
		{"black", color.RGBA{0, 0, 0, 255}, 16, 128, 128},
		{"red", color.RGBA{255, 0, 0, 255}, 81, 90, 240},
		{"green", color.RGBA{0, 255, 0, 255}, 145, 54, 34},
		{"blue", color.RGBA{0, 0, 255, 255}, 41, 240, 110},
		{"grey", color.RGBA{128, 128, 128, 255}, 126, 128, 128},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Odd size: exercises the edge-repeat path too.
			const w, h = 7, 5
			dst := newYUVPlanes(w, h)
			rgbaToI420(dst, solidRGBA(w, h, tc.c))
			for i, y := range dst.Y {
				if absDiff(y, tc.y) > 1 {
					t.Fatalf("Y[%d] = %d, want %d±1", i, y, tc.y)
				}
			}
			for i := range dst.U {
				if absDiff(dst.U[i], tc.u) > 1 || absDiff(dst.V[i], tc.v) > 1 {
					t.Fatalf("U,V[%d] = %d,%d, want %d,%d ±1", i, dst.U[i], dst.V[i], tc.u, tc.v)
				}
			}
		})
	}
}

func TestYUVChromaAveragesAndLayout(t *testing.T) {
	// 4x2 picture: left 2x2 block has one red pixel among black ones, right
	// block is white. Also a sub-image whose Rect does not start at 0,0.
	big := solidRGBA(10, 10, color.RGBA{0, 0, 0, 255})
	src := big.SubImage(image.Rect(3, 4, 7, 6)).(*image.RGBA)
	src.SetRGBA(3, 4, color.RGBA{255, 0, 0, 255})
	for _, p := range []image.Point{{5, 4}, {6, 4}, {5, 5}, {6, 5}} {
		src.SetRGBA(p.X, p.Y, color.RGBA{255, 255, 255, 255})
	}
	dst := newYUVPlanes(4, 2)
	rgbaToI420(dst, src)
	wantY := []byte{81, 16, 235, 235, 16, 16, 235, 235}
	for i := range wantY {
		if absDiff(dst.Y[i], wantY[i]) > 1 {
			t.Fatalf("Y = %v, want %v", dst.Y, wantY)
		}
	}
	// Average of red + 3 black = RGB(63.75,0,0): V = 128 + 112*63.75/255 = 156.
	if absDiff(dst.V[0], 156) > 1 || absDiff(dst.U[0], 119) > 1 {
		t.Errorf("left block U,V = %d,%d, want 119,156", dst.U[0], dst.V[0])
	}
	if dst.U[1] != 128 || dst.V[1] != 128 {
		t.Errorf("right block U,V = %d,%d, want 128,128", dst.U[1], dst.V[1])
	}
}

func TestYUVAllocatesNothing(t *testing.T) {
	src := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	pattern(src, 1)
	dst := newYUVPlanes(testWidth, testHeight)
	if n := testing.AllocsPerRun(10, func() { rgbaToI420(dst, src) }); n != 0 {
		t.Errorf("rgbaToI420 allocates %v times per call", n)
	}
}

// checkVP8Header checks the VP8 frame tag (RFC 6386 §9.1) and, for a
// keyframe, the start code and dimensions.
func checkVP8Header(t *testing.T, data []byte, wantKey bool, w, h int) {
	t.Helper()
	if len(data) < 3 {
		t.Fatalf("frame of %d bytes", len(data))
	}
	tag := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
	if isKey := tag&1 == 0; isKey != wantKey {
		t.Fatalf("frame tag says keyframe=%v, want %v", isKey, wantKey)
	}
	if show := tag>>4&1 == 1; !show {
		t.Fatalf("frame tag: show_frame is 0")
	}
	if firstPart := int(tag >> 5); firstPart == 0 || firstPart > len(data) {
		t.Fatalf("first partition size %d, frame %d bytes", firstPart, len(data))
	}
	if !wantKey {
		return
	}
	if len(data) < 10 {
		t.Fatalf("keyframe of %d bytes", len(data))
	}
	if data[3] != 0x9d || data[4] != 0x01 || data[5] != 0x2a {
		t.Fatalf("start code % x, want 9d 01 2a", data[3:6])
	}
	gw := int(binary.LittleEndian.Uint16(data[6:]) & 0x3fff)
	gh := int(binary.LittleEndian.Uint16(data[8:]) & 0x3fff)
	if gw != w || gh != h {
		t.Fatalf("keyframe header says %dx%d, want %dx%d", gw, gh, w, h)
	}
}

func TestVP8KeyframesAndHeader(t *testing.T) {
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, 1500)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	img := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	for n := 0; n < 12; n++ {
		pattern(img, n)
		force := n == 7
		data, key, err := enc.Encode(img, force)
		if err != nil {
			t.Fatalf("frame %d: %v", n, err)
		}
		wantKey := n == 0 || force
		if key != wantKey {
			t.Fatalf("frame %d: keyframe=%v, want %v", n, key, wantKey)
		}
		checkVP8Header(t, data, wantKey, testWidth, testHeight)
	}
}

func TestVP8OddSizeHeader(t *testing.T) {
	enc, err := NewVP8Encoder(161, 99, 30, 300)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	img := image.NewRGBA(image.Rect(0, 0, 161, 99))
	pattern(img, 0)
	data, key, err := enc.Encode(img, false)
	if err != nil || !key {
		t.Fatalf("Encode: key=%v err=%v", key, err)
	}
	checkVP8Header(t, data, true, 161, 99)
}

// TestVP8DecodesToColour encodes solid colours and decodes them as a receiver
// would: the picture must come back as the colour sent (lossy, so ± a few).
func TestVP8DecodesToColour(t *testing.T) {
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, 1500)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	dec, err := vp8dec.New()
	if err != nil {
		t.Fatal(err)
	}
	defer dec.Close()
	colours := []struct {
		c       color.RGBA
		y, u, v byte
	}{
		{color.RGBA{0, 0, 0, 255}, 16, 128, 128},
		{color.RGBA{255, 255, 255, 255}, 235, 128, 128},
		{color.RGBA{255, 0, 0, 255}, 81, 90, 240},
		{color.RGBA{0, 0, 255, 255}, 41, 240, 110},
	}
	const tolerance = 4
	for i, want := range colours {
		// A few frames per colour: the change must show up in the very first
		// frame after it (the test card relies on that).
		for rep := 0; rep < 3; rep++ {
			data, _, err := enc.Encode(solidRGBA(testWidth, testHeight, want.c), false)
			if err != nil {
				t.Fatal(err)
			}
			pic, err := dec.Decode(data)
			if err != nil {
				t.Fatalf("colour %d frame %d: %v", i, rep, err)
			}
			if size := pic.Rect.Size(); size.X != testWidth || size.Y != testHeight {
				t.Fatalf("decoded %v", size)
			}
			for _, p := range []image.Point{{0, 0}, {128, 120}, {255, 239}} {
				y := pic.Y[pic.YOffset(p.X, p.Y)]
				u := pic.Cb[pic.COffset(p.X, p.Y)]
				v := pic.Cr[pic.COffset(p.X, p.Y)]
				if absDiff(y, want.y) > tolerance || absDiff(u, want.u) > tolerance || absDiff(v, want.v) > tolerance {
					t.Fatalf("colour %v frame %d at %v: YUV %d,%d,%d, want %d,%d,%d", want.c, rep, p, y, u, v, want.y, want.u, want.v)
				}
			}
		}
	}
}

func TestVP8BadArguments(t *testing.T) {
	for _, tc := range []struct {
		w, h    int
		fps     float64
		bitrate int
	}{
		{0, 240, 60, 1000},
		{256, -1, 60, 1000},
		{20000, 240, 60, 1000},
		{256, 240, 0, 1000},
		{256, 240, 60, 0},
	} {
		if enc, err := NewVP8Encoder(tc.w, tc.h, tc.fps, tc.bitrate); err == nil {
			enc.Close()
			t.Errorf("NewVP8Encoder(%d, %d, %v, %d) gave no error", tc.w, tc.h, tc.fps, tc.bitrate)
		} else if !strings.HasPrefix(err.Error(), "vp8: ") {
			t.Errorf("error %q lacks the vp8: prefix", err)
		}
	}

	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := enc.Encode(image.NewRGBA(image.Rect(0, 0, 128, 240)), false); err == nil {
		t.Error("Encode of a 128x240 frame on a 256x240 encoder gave no error")
	}
	if _, _, err := enc.Encode(nil, false); err == nil {
		t.Error("Encode(nil) gave no error")
	}
	enc.Close()
	enc.Close() // idempotent
	if _, _, err := enc.Encode(image.NewRGBA(image.Rect(0, 0, testWidth, testHeight)), false); err == nil {
		t.Error("Encode after Close gave no error")
	}
}

// noisyPattern is pattern with noise of ±amp/2 on every channel: a picture
// the encoder cannot code cheaply, whatever its rate.
func noisyPattern(img *image.RGBA, n, amp int, r *rand.Rand) {
	pattern(img, n)
	for i := 0; i < len(img.Pix); i += 4 {
		for c := 0; c < 3; c++ {
			img.Pix[i+c] = byte(int(img.Pix[i+c]) + r.IntN(amp+1) - amp/2)
		}
	}
}

// A forced keyframe of a busy picture at a low rate stays a few frames'
// worth (vp8MaxIntraPct), not the 30-45 KB it was uncapped: on a capped link
// it must fit the router's queue.
func TestVP8KeyframeCapped(t *testing.T) {
	const kbps = 500
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, kbps)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pictures := busyFrames(16, 255) // noise over the whole range: the worst case
	frameBytes := kbps * 1000 / 8 / int(testFPS)
	for n := 0; n < 90; n++ {
		data, key, err := enc.Encode(pictures[n%len(pictures)], n == 60)
		if err != nil {
			t.Fatal(err)
		}
		if n == 60 {
			if !key {
				t.Fatal("the forced frame is no keyframe")
			}
			// The cap is a target: allow the rate control's overshoot on noise.
			if limit := 2 * vp8MaxIntraPct / 100 * frameBytes; len(data) > limit {
				t.Errorf("a keyframe of noise at %d kbit/s is %d bytes; want at most %d (%d%% of a %d-byte frame, twice over)",
					kbps, len(data), limit, vp8MaxIntraPct, frameBytes)
			}
		}
	}
}

// Lowering the target on a running encoder makes its frames smaller (in
// aggregate: CBR spreads the bits) with no keyframe, no new stream, and
// raising it again brings the size back.
func TestVP8SetBitrate(t *testing.T) {
	const (
		high, low = 1500, 200
		frames    = 60 // measured per phase, after as many to settle
		noise     = 8
	)
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, high)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	pictures := busyFrames(16, noise) // cycled: each frame still differs from the last
	n := 0
	phase := func() (bytes int) {
		for i := 0; i < 2*frames; i++ {
			data, key, err := enc.Encode(pictures[n%len(pictures)], false)
			if err != nil {
				t.Fatal(err)
			}
			if key && i == 0 && n > 0 {
				t.Fatalf("frame %d, the first after a rate change, is a keyframe: it must not restart the stream", n)
			}
			if i >= frames {
				bytes += len(data)
			}
			n++
		}
		return bytes
	}
	atHigh := phase()
	if err := enc.SetBitrate(low); err != nil {
		t.Fatal(err)
	}
	if got := enc.Bitrate(); got != low {
		t.Fatalf("Bitrate() = %d after SetBitrate(%d)", got, low)
	}
	atLow := phase()
	if err := enc.SetBitrate(high); err != nil {
		t.Fatal(err)
	}
	again := phase()
	t.Logf("bytes per %d frames: %d at %d kbps, %d at %d kbps, %d at %d kbps again", frames, atHigh, high, atLow, low, again, high)
	if 2*atLow >= atHigh {
		t.Errorf("at %d kbps the frames took %d bytes, not under half of the %d at %d kbps", low, atLow, atHigh, high)
	}
	if 2*again <= 3*atLow {
		t.Errorf("back at %d kbps the frames took %d bytes, not over 1.5 times the %d at %d kbps", high, again, atLow, low)
	}

	if err := enc.SetBitrate(0); err == nil {
		t.Error("SetBitrate(0) gave no error")
	}
	enc.Close()
	if err := enc.SetBitrate(high); err == nil {
		t.Error("SetBitrate after Close gave no error")
	}
}

// The loss hint is taken and read back, changes what CELT codes (the same
// sound gives other packets), and is refused out of 0..100 and after Close.
func TestOpusSetPacketLossPerc(t *testing.T) {
	plain, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	robust, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	defer robust.Close()
	const hint = 30
	if err := robust.SetPacketLossPerc(hint); err != nil {
		t.Fatal(err)
	}
	if got, err := robust.packetLossPerc(); err != nil || got != hint {
		t.Fatalf("packet loss hint reads %d (%v), want %d", got, err, hint)
	}
	pcm := make([]int16, 2*480)
	differ := 0
	const frames = 50
	for n := 0; n < frames; n++ {
		for i := 0; i < 480; i++ {
			s := int16((i*440*2 + n*480) % 20000)
			pcm[2*i], pcm[2*i+1] = s, -s
		}
		a, err := encodeOne(plain, pcm)
		if err != nil {
			t.Fatal(err)
		}
		b, err := encodeOne(robust, pcm)
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			differ++
		}
	}
	if differ == 0 {
		t.Errorf("a %d%% loss hint changed none of %d packets", hint, frames)
	}
	for _, bad := range []int{-1, 101} {
		if err := robust.SetPacketLossPerc(bad); err == nil {
			t.Errorf("SetPacketLossPerc(%d) gave no error", bad)
		}
	}
	robust.Close()
	if err := robust.SetPacketLossPerc(0); err == nil {
		t.Error("SetPacketLossPerc after Close gave no error")
	}
}

// opusTOCFrameMs returns the frame duration in ms (x10) coded by an Opus TOC
// byte (RFC 6716 §3.1).
func opusTOCFrameMs10(toc byte) int {
	config := int(toc >> 3)
	switch {
	case config < 12: // SILK-only
		return []int{100, 200, 400, 600}[config%4]
	case config < 16: // hybrid
		return []int{100, 200}[config%2]
	default: // CELT-only
		return []int{25, 50, 100, 200}[config%4]
	}
}

func TestOpusEncodes10msFrame(t *testing.T) {
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	// Restricted low delay has only CELT's 2.5 ms look-ahead (the other
	// applications add 4 ms more).
	if la, err := enc.lookahead(); err != nil || la != 120 {
		t.Fatalf("lookahead = %d samples (%v), want 120 (2.5 ms)", la, err)
	}
	pcm := make([]int16, 2*480)
	for n := 0; n < 5; n++ {
		for i := 0; i < 480; i++ {
			s := int16((i*440*2 + n*480) % 20000) // a crude saw wave
			pcm[2*i], pcm[2*i+1] = s, -s
		}
		pkt, err := encodeOne(enc, pcm)
		if err != nil {
			t.Fatal(err)
		}
		if len(pkt) < 2 {
			t.Fatalf("packet of %d bytes", len(pkt))
		}
		toc := pkt[0]
		if ms := opusTOCFrameMs10(toc); ms != 100 {
			t.Fatalf("TOC %#x says %d.%d ms frames, want 10 ms", toc, ms/10, ms%10)
		}
		if toc>>3 < 16 {
			t.Errorf("TOC %#x: config %d is not CELT-only (restricted low delay)", toc, toc>>3)
		}
		if toc&0x04 == 0 {
			t.Errorf("TOC %#x: mono, want stereo", toc)
		}
		if toc&0x03 != 0 {
			t.Errorf("TOC %#x: frame count code %d, want 0 (one frame)", toc, toc&3)
		}
	}
}

// EncodeFrames packs n 2.5 ms frames into one packet (code 3, RFC 6716
// §3.2.5) that says so, and refuses what is not n whole frames.
func TestOpusEncodeFramesJoinsFrames(t *testing.T) {
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	for _, n := range []int{1, 6, 7, maxOpusFramesPerPacket} {
		pcm := make([]int16, 2*120*n)
		for i := range pcm {
			pcm[i] = int16((i * 440) % 20000)
		}
		pkt, err := enc.EncodeFrames(pcm, 120, n)
		if err != nil {
			t.Fatalf("%d frames: %v", n, err)
		}
		toc := pkt[0]
		if ms := opusTOCFrameMs10(toc); ms != 25 {
			t.Fatalf("%d frames: TOC %#x says %d.%d ms frames, want 2.5 ms", n, toc, ms/10, ms%10)
		}
		frames := 1
		switch toc & 3 {
		case 1, 2:
			frames = 2
		case 3:
			frames = int(pkt[1] & 0x3f)
		}
		if frames != n {
			t.Errorf("a packet of %d frames says %d (TOC %#x)", n, frames, toc)
		}
	}
	for _, bad := range []struct{ samples, frameSize, n int }{
		{2 * 120 * 6, 120, 7}, {2 * 120 * 9, 120, 9}, {0, 120, 0}, {2 * 100 * 6, 100, 6},
	} {
		if _, err := enc.EncodeFrames(make([]int16, bad.samples), bad.frameSize, bad.n); err == nil {
			t.Errorf("%d samples as %d frames of %d: no error", bad.samples, bad.n, bad.frameSize)
		}
	}
}

func TestOpusFreshSlices(t *testing.T) {
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	defer enc.Close()
	loud := make([]int16, 960)
	for i := range loud {
		loud[i] = int16(i * 97)
	}
	a, err := encodeOne(enc, loud)
	if err != nil {
		t.Fatal(err)
	}
	keep := append([]byte(nil), a...)
	if _, err := encodeOne(enc, make([]int16, 960)); err != nil {
		t.Fatal(err)
	}
	if string(a) != string(keep) {
		t.Error("a later Encode changed an earlier packet")
	}
}

// encodeOne encodes pcm as one Opus frame of its whole length (what
// EncodeFrames does with n = 1), for the tests of the encoder itself.
func encodeOne(enc *OpusEncoder, pcm []int16) ([]byte, error) {
	return enc.EncodeFrames(pcm, len(pcm)/enc.channels, 1)
}

func TestOpusBadArguments(t *testing.T) {
	if _, err := NewOpusEncoder(44100, 2, 96000); err == nil {
		t.Error("44100 Hz gave no error")
	}
	if _, err := NewOpusEncoder(48000, 3, 96000); err == nil {
		t.Error("3 channels gave no error")
	}
	if _, err := NewOpusEncoder(48000, 2, 0); err == nil {
		t.Error("bitrate 0 gave no error")
	}
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{0, 1, 479 * 2, 480*2 + 1, 500 * 2} {
		if _, err := encodeOne(enc, make([]int16, n)); err == nil {
			t.Errorf("Encode of %d samples gave no error", n)
		}
	}
	for _, frame := range []int{120, 240, 960, 1920, 2880} {
		if _, err := encodeOne(enc, make([]int16, 2*frame)); err != nil {
			t.Errorf("Encode of a %d-sample frame: %v", frame, err)
		}
	}
	enc.Close()
	enc.Close()
	if _, err := encodeOne(enc, make([]int16, 960)); err == nil {
		t.Error("Encode after Close gave no error")
	}
}

func BenchmarkRGBAToI420(b *testing.B) {
	src := image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
	pattern(src, 3)
	dst := newYUVPlanes(testWidth, testHeight)
	b.SetBytes(int64(len(src.Pix)))
	b.ReportAllocs()
	for b.Loop() {
		rgbaToI420(dst, src)
	}
}

func BenchmarkVP8Encode256x240(b *testing.B) {
	enc, err := NewVP8Encoder(testWidth, testHeight, testFPS, 1500)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	// Pre-render frames so the benchmark times the encoder, not the pattern.
	frames := make([]*image.RGBA, 16)
	for i := range frames {
		frames[i] = image.NewRGBA(image.Rect(0, 0, testWidth, testHeight))
		pattern(frames[i], i)
	}
	var bytes int
	n := 0
	b.ReportAllocs()
	for b.Loop() {
		data, _, err := enc.Encode(frames[n%len(frames)], false)
		if err != nil {
			b.Fatal(err)
		}
		bytes += len(data)
		n++
	}
	b.ReportMetric(float64(bytes)/float64(n), "bytes/frame")
}

func BenchmarkOpusEncode10ms(b *testing.B) {
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	pcm := make([]int16, 2*480)
	for i := 0; i < 480; i++ {
		s := int16((i * 880) % 20000)
		pcm[2*i], pcm[2*i+1] = s, s/2
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeOne(enc, pcm); err != nil {
			b.Fatal(err)
		}
	}
}

// A 60 fps frame's sound as the writer encodes it: seven 2.5 ms frames in one packet.
func BenchmarkOpusEncodeFrames17ms(b *testing.B) {
	enc, err := NewOpusEncoder(48000, 2, 96000)
	if err != nil {
		b.Fatal(err)
	}
	defer enc.Close()
	pcm := make([]int16, 2*840)
	for i := 0; i < 840; i++ {
		s := int16((i * 880) % 20000)
		pcm[2*i], pcm[2*i+1] = s, s/2
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := enc.EncodeFrames(pcm, 120, 7); err != nil {
			b.Fatal(err)
		}
	}
}
