package stream

// resampler converts stereo int16 audio to Opus's 48 kHz by linear
// interpolation. Games run at 32–48 kHz; for the built-in ones (already 48 kHz)
// it is a plain copy. A dedicated library (libsamplerate, speexdsp) would be
// better for music and comes with libretro cores, where it is worth the cgo.
type resampler struct {
	pos          float64 // fractional read position into the pending input
	lastL, lastR int16   // the previous call's last frame, for interpolation across calls
}

// append resamples stereo interleaved in (at from Hz) to 48 kHz and appends it to out.
func (r *resampler) append(out, in []int16, from, to int) []int16 {
	if from == to || from <= 0 {
		return append(out, in...)
	}
	frames := len(in) / 2
	step := float64(from) / float64(to)
	sample := func(i int) (int16, int16) {
		if i < 0 {
			return r.lastL, r.lastR
		}
		return in[2*i], in[2*i+1]
	}
	// pos counts from the previous call's last frame (pos 0), so a new call
	// blends on from where the last one stopped.
	for ; r.pos < float64(frames); r.pos += step {
		i := int(r.pos)
		frac := r.pos - float64(i)
		l0, r0 := sample(i - 1)
		l1, r1 := sample(i)
		out = append(out, int16(float64(l0)+(float64(l1)-float64(l0))*frac), int16(float64(r0)+(float64(r1)-float64(r0))*frac))
	}
	if frames > 0 {
		r.pos -= float64(frames)
		r.lastL, r.lastR = in[2*(frames-1)], in[2*(frames-1)+1]
	}
	return out
}
