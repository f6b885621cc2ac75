package server

import (
	"github.com/valyala/fasthttp"

	"github.com/enneo-edge/enneo-edge/model"
)

// lineSettings is one phone line as GET /settings/subchannel answers it:
// the shape upstream.ParseLines reads, so an edge can pull its lines from
// a hub enneo-edge as from central.
type lineSettings struct {
	ID       int64  `json:"id"`
	Channel  string `json:"channel"`
	Name     string `json:"name,omitempty"`
	Settings struct {
		RingTime     int64 `json:"acdRingTimeSeconds,omitempty"`
		ACW          int64 `json:"acdAcwSeconds,omitempty"`
		PrimaryTagID int64 `json:"primaryTagId,omitempty"`
	} `json:"settings"`
}

// subchannels answers GET /api/mind/settings/subchannel with the phone
// lines the edge knows (pulled from its own central); ?channels[]= other
// than phone gets none.
func (s *Server) subchannels(ctx *fasthttp.RequestCtx) {
	out := []lineSettings{}
	if ch := ctx.QueryArgs().PeekMulti("channels[]"); len(ch) > 0 && !hasPhone(ch) {
		writeJSON(ctx, fasthttp.StatusOK, out)
		return
	}
	lines, err := s.store.Lines()
	if err != nil {
		s.writeError(ctx, err)
		return
	}
	for _, l := range lines {
		out = append(out, toLineSettings(l))
	}
	writeJSON(ctx, fasthttp.StatusOK, out)
}

func hasPhone(channels [][]byte) bool {
	for _, c := range channels {
		if string(c) == "phone" {
			return true
		}
	}
	return false
}

func toLineSettings(l model.Line) lineSettings {
	ls := lineSettings{ID: l.ID, Channel: "phone", Name: l.Name}
	ls.Settings.RingTime, ls.Settings.ACW, ls.Settings.PrimaryTagID = l.RingTimeSeconds, l.ACWSeconds, l.TagID
	return ls
}
