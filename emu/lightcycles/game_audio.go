package lightcycles

import (
	"couchplay/emu"
	"math"
)

// A tiny synthesiser for the built-in game's sound effects: a fixed pool of
// voices (square, triangle, noise) with a linear decay and a stereo pan, mixed
// into the reused per-frame buffer. Deterministic: the noise is an LFSR with a
// fixed seed.

type waveform uint8

const (
	waveSquare waveform = iota
	waveTriangle
	waveNoise
)

const maxVoices = 12

type voice struct {
	wave   waveform
	step   float64 // phase increment per sample, in cycles (freq / rate)
	slide  float64 // step multiplier per sample (pitch sweep); 0 = none
	phase  float64
	delay  int // samples of silence before the voice starts
	left   int // samples still to play
	total  int // length, for the decay envelope
	amp    float64
	gainL  float64
	gainR  float64
	noise  float64 // current noise level (held between LFSR clocks)
	active bool
}

type synth struct {
	voices [maxVoices]voice
	lfsr   uint16
	rate   float64
}

func newSynth(rate int) synth {
	return synth{lfsr: 1, rate: float64(rate)}
}

// note describes a sound to start.
type note struct {
	wave    waveform
	freq    float64 // Hz
	slide   float64 // pitch multiplier per second (e.g. 0.1 = falls to a tenth in 1 s); 0 = steady
	seconds float64
	delay   float64 // seconds before it starts
	amp     float64 // 0..1 of full scale
	pan     float64 // -1 left .. +1 right
}

// play starts n, taking a free voice or stealing the one nearest its end.
func (s *synth) play(n note) {
	slot, least := 0, math.MaxInt
	for i := range s.voices {
		v := &s.voices[i]
		if !v.active {
			slot = i
			break
		}
		if v.delay+v.left < least {
			slot, least = i, v.delay+v.left
		}
	}
	total := max(1, int(n.seconds*s.rate))
	slide := 0.0
	if n.slide > 0 {
		slide = math.Pow(n.slide, 1/s.rate)
	}
	pan := min(max(n.pan, -1), 1)
	s.voices[slot] = voice{
		wave: n.wave, step: n.freq / s.rate, slide: slide,
		delay: int(n.delay * s.rate), left: total, total: total,
		amp: n.amp, gainL: min(1, 1-pan), gainR: min(1, 1+pan), active: true,
	}
}

// clockNoise steps the 15-bit LFSR (the NES noise channel's) and returns ±1.
func (s *synth) clockNoise() float64 {
	bit := (s.lfsr ^ (s.lfsr >> 1)) & 1
	s.lfsr = (s.lfsr >> 1) | (bit << 14)
	if s.lfsr&1 != 0 {
		return 1
	}
	return -1
}

// render mixes every voice into out (stereo interleaved), overwriting it.
func (s *synth) render(out []int16) {
	for i := 0; i < len(out); i += 2 {
		var l, r float64
		for vi := range s.voices {
			v := &s.voices[vi]
			if !v.active {
				continue
			}
			if v.delay > 0 {
				v.delay--
				continue
			}
			var x float64
			switch v.wave {
			case waveSquare:
				x = 1
				if v.phase >= 0.5 {
					x = -1
				}
			case waveTriangle:
				x = 4*math.Abs(v.phase-0.5) - 1
			case waveNoise:
				x = v.noise
			}
			v.phase += v.step
			if v.phase >= 1 {
				v.phase -= math.Floor(v.phase)
				if v.wave == waveNoise {
					v.noise = s.clockNoise()
				}
			}
			if v.slide != 0 {
				v.step *= v.slide
			}
			x *= v.amp * float64(v.left) / float64(v.total)
			l += x * v.gainL
			r += x * v.gainR
			v.left--
			if v.left <= 0 {
				v.active = false
			}
		}
		out[i], out[i+1] = toInt16(l), toInt16(r)
	}
}

func toInt16(x float64) int16 {
	return int16(min(max(x, -1), 1) * math.MaxInt16)
}

// Note frequencies used by the effects.
const (
	noteC5 = 523.25
	noteE5 = 659.25
	noteG5 = 783.99
	noteC6 = 1046.50
)

// soundEvents starts the effects for one frame's events; pan follows the rider.
func (s *synth) soundEvents(ev Events, g *Cycles) {
	panOf := func(p int) float64 {
		if g.W <= 1 {
			return 0
		}
		return 0.8 * (2*float64(g.Players[p].X)/float64(g.W-1) - 1)
	}
	for p := range emu.Ports {
		if ev.Joined[p] {
			base := 440 * (1 + 0.25*float64(p))
			s.play(note{wave: waveSquare, freq: base, seconds: 0.06, amp: 0.15})
			s.play(note{wave: waveSquare, freq: base * 1.5, seconds: 0.08, delay: 0.06, amp: 0.15})
		}
		if ev.Turned[p] {
			s.play(note{wave: waveSquare, freq: 880 * (1 + 0.12*float64(p)), seconds: 0.025, amp: 0.12, pan: panOf(p)})
		}
		if ev.Crashed[p] {
			s.play(note{wave: waveNoise, freq: 6000, slide: 0.05, seconds: 0.4, amp: 0.4, pan: panOf(p)})
		}
	}
	if ev.Tick {
		s.play(note{wave: waveSquare, freq: 660, seconds: 0.08, amp: 0.15})
	}
	if ev.Go || ev.Restart {
		s.play(note{wave: waveSquare, freq: 1320, seconds: 0.15, amp: 0.15})
	}
	if ev.Won > 0 {
		for i, f := range [...]float64{noteC5, noteE5, noteG5, noteC6} {
			length := 0.1
			if i == 3 {
				length = 0.3
			}
			s.play(note{wave: waveTriangle, freq: f, seconds: length, delay: 0.11 * float64(i), amp: 0.3})
		}
	}
	if ev.Lost {
		s.play(note{wave: waveTriangle, freq: 392, seconds: 0.15, amp: 0.3})
		s.play(note{wave: waveTriangle, freq: 262, seconds: 0.3, delay: 0.16, amp: 0.3})
	}
}
