package cluster

import (
	"context"
	"slices"
	"sync"
	"time"
)

// MaxStampAhead is how far ahead of the cluster's clock (the median of
// the members' wall clocks, see measureAhead) a leader may stamp. The
// stamps never go backwards (the floor, fsm.stamps), so a leader whose
// clock runs an hour ahead (a VM before NTP synced it) would otherwise
// push every member's time an hour into the future: ring and after-call
// timers and ExpireDue fire as if that hour had passed, and time stands
// still for the cluster until the wall clocks catch up. Bounded, a skewed
// leader costs at most this much: its stamps run this far ahead at most,
// and the next leader's stand still this long at most.
const MaxStampAhead = time.Minute

// skewRecheck is how often a leader measures its clock against the
// others' again while it leads (in the background; the first measure of
// a term is taken before its first stamp).
const skewRecheck = time.Minute

// clockCallTimeout bounds one member's answer to a clock measure.
const clockCallTimeout = 500 * time.Millisecond

// Clock answers this member's wall clock (Unix nanoseconds) to a leader
// measuring how far its own runs ahead (measureAhead).
func (s *Service) Clock(_ int, now *int64) error {
	*now = s.n.clock.Now().UnixNano()
	return nil
}

// measureAhead is how far this member's clock runs ahead of the median of
// the members' clocks (its own counted, a peer's corrected by half the
// round trip); negative when it is behind. Peers that do not answer are
// left out; with an even count the lower middle is taken, so of two
// clocks the later one is held back. Alone, it is 0.
func (n *Node) measureAhead(ctx context.Context) time.Duration {
	offsets := []time.Duration{0} // the others' clocks minus this one's
	var mu sync.Mutex
	var wg sync.WaitGroup
	addrs := n.addrs
	if f := n.r.GetConfiguration(); wait(ctx, f) == nil {
		addrs = map[string]string{}
		for _, s := range f.Configuration().Servers {
			addrs[string(s.ID)] = n.addrOf(s.ID, s.Address)
		}
	}
	for id, addr := range addrs {
		if id == n.o.Node {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, clockCallTimeout)
			defer cancel()
			var theirs int64
			before := n.clock.Now()
			if _, err := n.peers.call(cctx, addr, "Cluster.Clock", 0, &theirs); err != nil {
				return
			}
			rtt := n.clock.Now().Sub(before)
			mine := before.Add(rtt / 2)
			mu.Lock()
			offsets = append(offsets, time.Unix(0, theirs).Sub(mine))
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(offsets)
	return -offsets[(len(offsets)-1)/2]
}

// setAhead records a measure and says so when it bounds the stamps.
func (n *Node) setAhead(d time.Duration) {
	n.ahead.Store(int64(d))
	n.aheadAt.Store(time.Now().UnixNano())
	if d > MaxStampAhead {
		n.log.Warn("cluster: this member's clock runs ahead of the other members'; while it leads, its stamps are held back to the bound (check NTP on this host)",
			"ahead", d.Round(time.Millisecond), "bound", MaxStampAhead)
	}
}

// boundStamp holds now back to at most MaxStampAhead ahead of the
// cluster's clock, and starts a new measure in the background when the
// last one is older than skewRecheck.
func (n *Node) boundStamp(now int64) int64 {
	if time.Since(time.Unix(0, n.aheadAt.Load())) > skewRecheck && !n.closing() && n.measuring.CompareAndSwap(false, true) {
		n.wg.Go(func() {
			defer n.measuring.Store(false)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() {
				select {
				case <-n.done:
					cancel()
				case <-ctx.Done():
				}
			}()
			n.setAhead(n.measureAhead(ctx))
		})
	}
	if a := n.ahead.Load(); a > int64(MaxStampAhead) {
		now -= a - int64(MaxStampAhead)
	}
	return now
}

// ClockAhead is how far this member's clock ran ahead of the members'
// median when it last measured (as leader), 0 if it never did.
func (n *Node) ClockAhead() time.Duration { return time.Duration(n.ahead.Load()) }

// closing reports that Close has begun (no new background work then).
func (n *Node) closing() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}
