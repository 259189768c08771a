package stream

import "testing"

func TestResamplePassThroughAt48k(t *testing.T) {
	var r resampler
	in := []int16{1, 2, 3, 4, 5, 6}
	out := r.append(nil, in, 48000, 48000)
	if len(out) != len(in) || out[4] != 5 {
		t.Fatalf("got %v", out)
	}
}

func TestResampleRateAndContinuity(t *testing.T) {
	var r resampler
	// 32 kHz in chunks of 533/534 frames (a 60 fps core) must come out at 48 kHz
	// with no gaps or jumps at chunk boundaries: feed a ramp and check steps.
	var out []int16
	value := int16(0)
	total := 0
	for i := 0; i < 60; i++ {
		n := 533
		if i%3 == 0 {
			n = 534
		}
		chunk := make([]int16, 0, 2*n)
		for j := 0; j < n; j++ {
			chunk = append(chunk, value, -value)
			value++
		}
		total += n
		out = r.append(out, chunk, 32000, 48000)
	}
	want := total * 48000 / 32000
	if frames := len(out) / 2; frames < want-2 || frames > want+2 {
		t.Fatalf("%d frames out of %d in, want about %d", frames, total, want)
	}
	for i := 2; i < len(out); i += 2 {
		step := int(out[i]) - int(out[i-2])
		if step < 0 || step > 1 {
			t.Fatalf("ramp jumps by %d at output frame %d", step, i/2)
		}
		if out[i+1] != -out[i] {
			t.Fatalf("channels mixed at frame %d: %d %d", i/2, out[i], out[i+1])
		}
	}
}
