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
