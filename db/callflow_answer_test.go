package db

import (
	"context"
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
)

// TestSetRoutingStatusAnswersTheStoredPresence: an agent who goes idle
// while a call waits is offered it in the same transaction; the answer
// must say so (beingConnected, with the ticket), not the idle that was
// asked for and no longer holds.
func TestSetRoutingStatusAnswersTheStoredPresence(t *testing.T) {
	s, _ := openForwardTest(t)
	ctx := context.Background()
	if _, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceUnavailable}); err != nil {
		t.Fatal(err)
	}
	id := call(t, s, "waits")
	p, err := s.SetRoutingStatus(ctx, 7, model.RoutingStatusChange{CallRoutingStatus: model.PresenceIdle})
	if err != nil {
		t.Fatal(err)
	}
	stored, err := s.Presence(7)
	if err != nil {
		t.Fatal(err)
	}
	if stored.CallRoutingStatus != model.PresenceBeingConnected || stored.CurrentTicketID != id {
		t.Fatalf("stored presence %+v, want beingConnected for ticket %d", stored, id)
	}
	if p.CallRoutingStatus != stored.CallRoutingStatus || p.CurrentTicketID != stored.CurrentTicketID {
		t.Fatalf("answered %s (ticket %d), stored %s (ticket %d)", p.CallRoutingStatus, p.CurrentTicketID,
			stored.CallRoutingStatus, stored.CurrentTicketID)
	}
}
