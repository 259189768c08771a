package stream

// Congestion control. Each peer has its own send-side bandwidth estimate
// (pion's GCC on transport-wide feedback, min'd with REMB if the browser sends
// one); the one VP8 encode follows the lowest estimate among the players, so a
// player on a bad link gets a picture that arrives instead of one that queues.
// Spectators count only when no player watches: they get NACK retransmits and
// the throttled keyframes, but never drag the players' picture down.
//
// The writer goroutine, which alone touches the encoders, samples the
// estimates every rateApplyInterval (writeVideo, writeAudio); the estimates
// are handed over through each peer's locks, so no goroutine is added.

import (
	"math"
	"strings"
	"sync"
	"time"

	"github.com/pion/interceptor"
	"github.com/pion/interceptor/pkg/cc"
	"github.com/pion/interceptor/pkg/gcc"
	"github.com/pion/interceptor/pkg/twcc"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
)

const (
	// minVideoKbps is GCC's floor: below it a 60 fps picture is mush anyway.
	minVideoKbps = 150
	// rateApplyInterval: the encoder's target changes at most this often
	// (GCC updates on every feedback, ~20 times a second).
	rateApplyInterval = 250 * time.Millisecond
	// rateApplyMinChange: smaller relative changes are not worth a reconfigure.
	rateApplyMinChange = 0.05
	// rateInfoStep: a change this big (relative) since the last Info line is
	// logged at Info; the rest at Debug, so a congested link does not flood the log.
	rateInfoStep = 0.25
	// rembFreshness: a REMB older than this no longer limits the rate (a
	// receiver that uses REMB sends one about every second).
	rembFreshness = 5 * time.Second
	// lossFreshness: a peer's audio loss counts this long after its receiver
	// report. Chrome reports on audio every 2.5-7.5 s (5 s, randomised).
	lossFreshness = 10 * time.Second
	// linkIncreasePerS: an uncongested link's rate climbs this much a second
	// (GCC's multiplicative increase).
	linkIncreasePerS = 1.08
	// gccLossDecrease: GCC's loss-based side lowers its estimate above this loss.
	gccLossDecrease = 0.1
	// bitsPerKbit converts GCC's bits per second to kbit/s.
	bitsPerKbit = 1000
	// fractionLostScale: RTCP's fraction lost is a fixed-point fraction of 256.
	fractionLostScale = 256
)

// peerRate is what one peer's feedback says about its link. The RTCP
// goroutines write it; the writer goroutine reads it.
type peerRate struct {
	// bwe is the peer's GCC estimator, set while its PeerConnection is built
	// (newPeer) and never changed after; nil if none was made.
	bwe cc.BandwidthEstimator

	mu       sync.Mutex
	rembKbps int       // the last REMB, kbit/s
	rembAt   time.Time // when it came; zero: never
	lossFrac uint8     // fraction lost in the last audio receiver report (/256)
	lossAt   time.Time // when it came; zero: never
	// videoLossAt: the last NACK, or video receiver report with a loss; zero: never.
	videoLossAt time.Time
	linkKbps    float64   // what the link carries, as observe sees it; 0: not observed yet
	linkAt      time.Time // the last observe
}

func (r *peerRate) setREMB(kbps int, now time.Time) {
	r.mu.Lock()
	r.rembKbps, r.rembAt = kbps, now
	r.mu.Unlock()
}

func (r *peerRate) setAudioLoss(frac uint8, now time.Time) {
	r.mu.Lock()
	r.lossFrac, r.lossAt = frac, now
	r.mu.Unlock()
}

// setVideoLoss records that the peer's link lost video packets at now.
func (r *peerRate) setVideoLoss(now time.Time) {
	r.mu.Lock()
	r.videoLossAt = now
	r.mu.Unlock()
}

// videoLossy reports whether the peer's link lost video within lossFreshness.
func (r *peerRate) videoLossy(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return !r.videoLossAt.IsZero() && now.Sub(r.videoLossAt) < lossFreshness
}

// estimateKbps is the peer's current estimate: its link rate (observe), min'd
// with a fresh REMB. ok is false when the peer has no estimator.
func (r *peerRate) estimateKbps(now time.Time) (kbps int, ok bool) {
	if r.bwe == nil {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	kbps = int(r.linkKbps)
	if kbps == 0 {
		kbps = r.bwe.GetTargetBitrate() / bitsPerKbit // not observed yet
	}
	if !r.rembAt.IsZero() && now.Sub(r.rembAt) < rembFreshness {
		kbps = min(kbps, r.rembKbps)
	}
	return kbps, true
}

// observe updates the peer's link rate from its GCC, once a frame.
//
// GCC alone cannot drive an encoder whose output follows the picture: after
// any decrease it raises its target to at most 1.5 × the rate it sees
// received, so a calm picture (a menu, the black test card: tens of kbit/s)
// pins it near its floor, and the next busy scene starts at 150 kbit/s on a
// link with room for ten times that. So GCC is used for what it knows, that
// the link is congested (its delay detector sees overuse or its loss side
// sees over gccLossDecrease): then the rate falls to GCC's target. Otherwise
// it climbs back by linkIncreasePerS (never below GCC's own target), as GCC
// does when it is not application-limited.
func (r *peerRate) observe(now time.Time, maxKbps int) {
	if r.bwe == nil {
		return
	}
	gccKbps := float64(r.bwe.GetTargetBitrate() / bitsPerKbit)
	busy := congested(r.bwe.GetStats())
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.linkKbps == 0 {
		r.linkKbps, r.linkAt = float64(maxKbps), now
	}
	dt := now.Sub(r.linkAt).Seconds()
	r.linkAt = now
	switch {
	case busy:
		r.linkKbps = min(r.linkKbps, gccKbps)
	case dt > 0:
		r.linkKbps = max(r.linkKbps*math.Pow(linkIncreasePerS, min(dt, 1)), gccKbps)
	}
	r.linkKbps = max(minVideoKbps, min(r.linkKbps, float64(maxKbps)))
}

// congested reads GCC's stats (gcc.SendSideBWE.GetStats): overuse or a
// decrease on the delay side, or loss over gccLossDecrease.
func congested(stats map[string]any) bool {
	usage, _ := stats["usage"].(string)
	state, _ := stats["state"].(string)
	loss, _ := stats["averageLoss"].(float64)
	return usage == "overuse" || state == "decrease" || loss > gccLossDecrease
}

// audioLoss is the fraction lost (/256) of the peer's last audio receiver
// report, if it is fresh.
func (r *peerRate) audioLoss(now time.Time) (frac uint8, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lossAt.IsZero() || now.Sub(r.lossAt) >= lossFreshness {
		return 0, false
	}
	return r.lossFrac, true
}

// rateSample is one watching peer's estimate, for videoTarget.
type rateSample struct {
	kbps   int
	player bool
}

// videoTarget is the rate the one encode should run at: the lowest estimate
// of the players, or of the spectators when no player watches, within
// [minKbps, maxKbps]; maxKbps with no estimate at all.
func videoTarget(samples []rateSample, minKbps, maxKbps int) int {
	players := false
	for _, s := range samples {
		players = players || s.player
	}
	target := maxKbps
	for _, s := range samples {
		if s.player == players {
			target = min(target, s.kbps)
		}
	}
	return max(minKbps, min(target, maxKbps))
}

// rateChanged reports whether target differs enough from cur to reconfigure
// the encoder: by rateApplyMinChange, or at all when it reached a bound (so
// the rate gets back to exactly the maximum after a dip).
func rateChanged(cur, target, minKbps, maxKbps int) bool {
	if target == cur {
		return false
	}
	if target == minKbps || target == maxKbps {
		return true
	}
	return math.Abs(float64(target-cur)) >= rateApplyMinChange*float64(cur)
}

// lossPercent turns RTCP's fraction lost into Opus' packet loss percentage.
func lossPercent(frac uint8) int {
	return int(math.Round(float64(frac) * 100 / fractionLostScale))
}

// rateState is the writer goroutine's bookkeeping of the adaptation.
type rateState struct {
	nextVideo time.Time    // the next look at the video estimates
	nextAudio time.Time    // the next look at the audio loss
	infoKbps  int          // the rate of the last Info line
	lossPct   int          // the hint the Opus encoder has; -1: none set yet
	samples   []rateSample // reused
}

// watchingEstimates gathers the estimates of the connected peers that get
// video. Writer goroutine.
func (h *Hub) watchingEstimates(now time.Time) []rateSample {
	s := h.rate.samples[:0]
	h.mu.Lock()
	for p := range h.peers {
		if !p.hasVideo || !p.isConnected() {
			continue
		}
		if kbps, ok := p.rate.estimateKbps(now); ok {
			s = append(s, rateSample{kbps: kbps, player: p.player})
		}
	}
	h.mu.Unlock()
	h.rate.samples = s
	return s
}

// adaptVideoRate retargets the encoder to the players' estimates, at most every
// rateApplyInterval. Writer goroutine, with h.vp8 open.
func (h *Hub) adaptVideoRate(now time.Time) {
	h.mu.Lock()
	for p := range h.peers {
		if p.hasVideo {
			p.rate.observe(now, h.kbps)
		}
	}
	h.mu.Unlock()
	if now.Before(h.rate.nextVideo) {
		return
	}
	h.rate.nextVideo = now.Add(rateApplyInterval)
	cur := h.vp8.Bitrate()
	target := videoTarget(h.watchingEstimates(now), minVideoKbps, h.kbps)
	if !rateChanged(cur, target, minVideoKbps, h.kbps) {
		return
	}
	if err := h.vp8.SetBitrate(target); err != nil {
		h.log.Error("cannot change the video bitrate", "err", err)
		return
	}
	h.videoKbps.Store(int32(target))
	level := h.log.Debug
	last := h.rate.infoKbps
	if big := math.Abs(float64(target-last)) >= rateInfoStep*float64(last) || target == h.kbps || target == minVideoKbps; big && target != last {
		level = h.log.Info
		h.rate.infoKbps = target
	}
	level("video bitrate follows the link", "kbps", target, "was", cur)
}

// adaptAudioLoss tells the Opus encoder the worst recent audio loss of the
// peers, at most every rateApplyInterval. Writer goroutine, with h.opus open.
//
// The encoder is CELT only (RESTRICTED_LOWDELAY), so in-band FEC, a SILK
// feature, does not apply; the hint still makes CELT lean less on the previous
// frame (its energy prediction), so a lost packet costs less of the next ones.
func (h *Hub) adaptAudioLoss(now time.Time) {
	if now.Before(h.rate.nextAudio) {
		return
	}
	h.rate.nextAudio = now.Add(rateApplyInterval)
	worst := uint8(0)
	h.mu.Lock()
	for p := range h.peers {
		if frac, ok := p.rate.audioLoss(now); ok {
			worst = max(worst, frac)
		}
	}
	h.mu.Unlock()
	pct := lossPercent(worst)
	if pct == h.rate.lossPct {
		return
	}
	if err := h.opus.SetPacketLossPerc(pct); err != nil {
		h.log.Error("cannot set the Opus loss hint", "err", err)
		return
	}
	h.rate.lossPct = pct
	h.log.Debug("Opus packet loss hint", "percent", pct)
}

// VideoKbps is the VP8 encoder's current target bitrate in kbit/s.
func (h *Hub) VideoKbps() int { return int(h.videoKbps.Load()) }

// addCongestionControl adds, to one peer's registry, the GCC estimator (its
// bandwidth estimate goes to p.rate.bwe) and the transport-wide sequence
// numbers that Chrome's feedback acknowledges. Both must come before the NACK
// responder: on the RTCP side GCC then lends its target to the responder,
// which bounds retransmits on a congested link by it; on the RTP side the
// responder's retransmits pass them, so each gets a fresh sequence number and
// is accounted as sent.
func (h *Hub) addCongestionControl(reg *interceptor.Registry, p *Peer) error {
	maxBps := h.kbps * bitsPerKbit
	ccf, err := cc.NewInterceptor(func() (cc.BandwidthEstimator, error) {
		return gcc.NewSendSideBWE(
			gcc.SendSideBWEInitialBitrate(maxBps),
			gcc.SendSideBWEMaxBitrate(maxBps),
			gcc.SendSideBWEMinBitrate(minVideoKbps*bitsPerKbit),
			// Sent as encoded: pacing smooths the link but delays every
			// frame's last packets, and latency matters more here.
			gcc.SendSideBWEPacer(gcc.NewNoOpPacer()),
		)
	})
	if err != nil {
		return err
	}
	// A registry per peer: the callback cannot tell PeerConnections apart.
	// It runs inside NewPeerConnection, before p is shared.
	ccf.OnNewPeerConnection(func(_ string, bwe cc.BandwidthEstimator) { p.rate.bwe = bwe })
	reg.Add(videoOnlyFactory{ccf})
	tw, err := twcc.NewHeaderExtensionInterceptor()
	if err != nil {
		return err
	}
	reg.Add(privateHeaderFactory{tw})
	return nil
}

// videoOnlyFactory keeps an interceptor to the video streams. Only video
// carries transport-wide sequence numbers, so audio through GCC would only
// crowd its short send history (250 packets) out of video packets.
type videoOnlyFactory struct{ interceptor.Factory }

func (f videoOnlyFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := f.Factory.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return videoOnlyInterceptor{i}, nil
}

type videoOnlyInterceptor struct{ interceptor.Interceptor }

func (v videoOnlyInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !isVideo(info) {
		return writer
	}
	return v.Interceptor.BindLocalStream(info, writer)
}

// sourceReadKey marks, in a read's attributes, the size of the batch the
// transport delivered, for BindRTCPReader.
type sourceReadKey struct{}

// BindRTCPReader keeps a feedback packet that GCC refuses (pion then fails the
// whole read) from ending the sender's RTCP, and with it PLI and NACK
// handling: the batch goes on as read, without the estimate's update.
func (v videoOnlyInterceptor) BindRTCPReader(reader interceptor.RTCPReader) interceptor.RTCPReader {
	source := interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		n, attrs, err := reader.Read(b, a)
		if err == nil {
			a.Set(sourceReadKey{}, n)
		}
		return n, attrs, err
	})
	inner := v.Interceptor.BindRTCPReader(source)
	return interceptor.RTCPReaderFunc(func(b []byte, a interceptor.Attributes) (int, interceptor.Attributes, error) {
		if a == nil {
			a = interceptor.Attributes{}
		}
		delete(a, sourceReadKey{})
		n, attrs, err := inner.Read(b, a)
		if err != nil {
			if read, ok := a.Get(sourceReadKey{}).(int); ok {
				return read, a, nil
			}
		}
		return n, attrs, err
	})
}

func isVideo(info *interceptor.StreamInfo) bool {
	return strings.HasPrefix(strings.ToLower(info.MimeType), "video/")
}

// privateHeaderFactory hands its interceptor a copy of each header: pion's
// TWCC stamper sets the extension in place, and the fan-out track passes the
// same header to every peer.
type privateHeaderFactory struct{ interceptor.Factory }

func (f privateHeaderFactory) NewInterceptor(id string) (interceptor.Interceptor, error) {
	i, err := f.Factory.NewInterceptor(id)
	if err != nil {
		return nil, err
	}
	return privateHeaderInterceptor{i}, nil
}

type privateHeaderInterceptor struct{ interceptor.Interceptor }

func (p privateHeaderInterceptor) BindLocalStream(info *interceptor.StreamInfo, writer interceptor.RTPWriter) interceptor.RTPWriter {
	if !hasExtension(info, sdp.TransportCCURI) {
		return writer
	}
	inner := p.Interceptor.BindLocalStream(info, writer)
	return interceptor.RTPWriterFunc(func(header *rtp.Header, payload []byte, attrs interceptor.Attributes) (int, error) {
		own := *header
		own.Extensions = append(make([]rtp.Extension, 0, len(header.Extensions)+1), header.Extensions...)
		return inner.Write(&own, payload, attrs)
	})
}

func hasExtension(info *interceptor.StreamInfo, uri string) bool {
	for _, ext := range info.RTPHeaderExtensions {
		if ext.URI == uri {
			return true
		}
	}
	return false
}

// Frame thinning. Congestion control sets the encoder's target, but a busy
// picture at VP8's highest quantizer has a floor: full-screen noise at
// 256x240 stays about 2.4 KB a frame, 1.2 Mbit/s at 60 fps, whatever the
// target. Under a lower link rate the encoder then overshoots for good, the
// router's queue overflows, and the picture freezes again and again. So when
// the delta frames, sent at every frame, would come to more than the target
// (by thinSlack), only one frame in n is encoded, n up to maxThinning; the
// encoder's clock runs on (it counts frames), so each sent frame keeps its
// budget and the rate falls by n. A viewer joining never waits for it.
const (
	maxThinning = 4   // 15 fps at 60: below it a game is no longer playable anyway
	thinSlack   = 1.2 // an overshoot CBR takes up by itself
	thinWeight  = 0.1 // of a new delta frame in the running average of their sizes
)

// thinning is the writer goroutine's frame thinning state.
type thinning struct {
	every   int           // encode one frame in every (1: all)
	skipped int           // frames skipped since the last encode
	carry   time.Duration // their RTP time, for the next frame sent
	avg     float64       // running average of a delta frame's bytes; 0: none yet
}

// skip reports whether to skip this frame; joining (a viewer waits for its
// keyframe) never skips.
func (t *thinning) skip(joining bool) bool {
	if joining || t.every <= 1 || t.skipped+1 >= t.every {
		t.skipped = 0
		return false
	}
	t.skipped++
	return true
}

// measure takes a delta frame's size and the encoder's target, and returns
// the thinning before and after.
func (t *thinning) measure(bytes int, fps float64, targetKbps int) (before, after int) {
	before = max(1, t.every)
	if t.avg == 0 {
		t.avg = float64(bytes)
	} else {
		t.avg += thinWeight * (float64(bytes) - t.avg)
	}
	// The rate if every frame were sent (the encoder's budget per frame is
	// the same whether or not frames are skipped).
	full := t.avg * 8 * fps / bitsPerKbit
	t.every = max(1, min(maxThinning, int(math.Ceil(full/(thinSlack*float64(targetKbps))))))
	return before, t.every
}
