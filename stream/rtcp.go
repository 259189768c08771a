package stream

import "github.com/pion/rtcp"

// isKeyframeRequest reports whether a receiver lost the picture and needs a keyframe.
func isKeyframeRequest(pkt rtcp.Packet) bool {
	switch pkt.(type) {
	case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
		return true
	}
	return false
}

// rembBitrate is the bitrate (bits per second) of a receiver's REMB.
func rembBitrate(pkt rtcp.Packet) (bps int, ok bool) {
	remb, ok := pkt.(*rtcp.ReceiverEstimatedMaximumBitrate)
	if !ok {
		return 0, false
	}
	return int(remb.Bitrate), true
}

// fractionLost is the fraction (/256) of ssrc's packets lost since the
// previous report, from a receiver or sender report that has a block for it.
func fractionLost(pkt rtcp.Packet, ssrc uint32) (frac uint8, ok bool) {
	var reports []rtcp.ReceptionReport
	switch r := pkt.(type) {
	case *rtcp.ReceiverReport:
		reports = r.Reports
	case *rtcp.SenderReport:
		reports = r.Reports
	}
	for _, rr := range reports {
		if rr.SSRC == ssrc {
			return rr.FractionLost, true
		}
	}
	return 0, false
}

// isNack reports whether a receiver asks for packets again (it found them missing).
func isNack(pkt rtcp.Packet) bool {
	_, ok := pkt.(*rtcp.TransportLayerNack)
	return ok
}
