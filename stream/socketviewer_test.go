package stream

import (
	"testing"
	"time"
)

// A page that reads slower than the stream: at most socketMaxVideo frames
// wait; past that the waiting ones go (newest wins), the viewer asks for a
// keyframe and skips delta frames until one comes. Sound is bounded too.
func TestSocketViewerSlowSocketDropsFramesAndWaitsForAKeyframe(t *testing.T) {
	h := newTestHub(t, Settings{})
	v, err := h.NewSocketViewer(false)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if h.Connected() != 1 || !h.keys.joining() {
		t.Fatalf("a new socket viewer: connected %d, keyframe asked %v", h.Connected(), h.keys.joining())
	}
	h.keys.take(time.Now()) // the join's keyframe is served
	h.sendSocketVideo([]byte("delta"), false, time.Second/60)
	if v.Next() != nil {
		t.Fatal("a delta frame reached a viewer that has not had a keyframe")
	}
	h.sendSocketVideo([]byte("key"), true, time.Second/60)
	for i := range socketMaxVideo - 1 { // with the keyframe: a full queue
		h.sendSocketVideo([]byte{byte(i)}, false, time.Second/60)
	}
	if v.video != socketMaxVideo || h.keys.lost.Load() {
		t.Fatalf("%d frames waiting, keyframe asked %v; want %d and none asked", v.video, h.keys.lost.Load(), socketMaxVideo)
	}
	// One more: the socket is behind. Everything waiting goes, a keyframe is asked for.
	h.sendSocketVideo([]byte("late"), false, time.Second/60)
	if v.video != 0 || !h.keys.lost.Load() {
		t.Fatalf("after the overflow: %d frames waiting, keyframe asked %v", v.video, h.keys.lost.Load())
	}
	if _, drops := v.Stats(); drops != 1 {
		t.Fatalf("drops %d, want 1", drops)
	}
	h.sendSocketVideo([]byte("delta"), false, time.Second/60)
	h.sendSocketVideo([]byte("key2"), true, time.Second/60)
	msg := v.Next()
	if msg == nil || msg[0] != MsgSocketVideo || msg[1]&SocketVideoKey == 0 || string(msg[SocketVideoHeader:]) != "key2" {
		t.Fatalf("after the drop the viewer got %q, want the keyframe", msg)
	}
	// Sound: bounded, the oldest go first.
	for i := range socketMaxAudio + 5 {
		h.sendSocketAudio(uint16(i), 0, AudioPacket{Samples: 120, Opus: []byte{1}})
	}
	if v.audio != socketMaxAudio {
		t.Fatalf("%d sound messages waiting, want %d", v.audio, socketMaxAudio)
	}
	first, err := DecodeAudioMessage(v.Next())
	if err != nil || first.Seq != 5 {
		t.Fatalf("the oldest sound kept is %d (%v), want 5", first.Seq, err)
	}
	v.Close()
	v.Close()
	if h.Connected() != 0 {
		t.Fatalf("connected %d after Close", h.Connected())
	}
	h.sendSocketVideo([]byte("key"), true, time.Second/60)
	if v.Next() != nil {
		t.Fatal("a closed viewer still gets frames")
	}
}

// A controller-mode page (no picture) gets the sound only.
func TestSocketViewerWithoutVideo(t *testing.T) {
	h := newTestHub(t, Settings{})
	v, err := h.NewSocketViewer(true)
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	h.sendSocketVideo([]byte("key"), true, time.Second/60)
	h.sendSocketAudio(1, 0, AudioPacket{Samples: 120, Opus: []byte{1}})
	if msg := v.Next(); msg == nil || msg[0] != MsgAudio || v.Next() != nil {
		t.Fatalf("a sound-only viewer got %q", msg)
	}
}
