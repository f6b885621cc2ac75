package callflow

import (
	"testing"

	"github.com/enneo-edge/enneo-edge/model"
)

// TestAnswerTexts pins what callReceived answers in ioResponse: PBX
// integrations match on these texts, so a change must be deliberate.
func TestAnswerTexts(t *testing.T) {
	cases := []struct {
		name string
		t    model.Ticket
		want string
	}{
		{"native", model.Ticket{Routing: model.RoutingNative, TriggerAIProcessing: true}, "None, as routing is not external"},
		{"none", model.Ticket{Routing: model.RoutingNone}, "None, as routing is not external"},
		{"external with AI", model.Ticket{Routing: model.RoutingExternal, TriggerAIProcessing: true},
			"Deferred: the edge stored the call; AI processing runs when central enneo receives it"},
		{"external without AI", model.Ticket{Routing: model.RoutingExternal}, "None, as triggerAiProcessing is false"},
		{"external, assigned", model.Ticket{Routing: model.RoutingExternal, AgentID: 42},
			"None, as triggerAiProcessing is false; ticket assigned to user 42"},
	}
	for _, c := range cases {
		if got := ioResponse(&c.t); got != c.want {
			t.Errorf("%s: ioResponse %q, want %q", c.name, got, c.want)
		}
	}
	// Only a native call has a queue entry the PBX asks about.
	if a := answerOf(&model.Ticket{ID: 1, QueueID: 9, Routing: model.RoutingExternal}); a.QueueID != 0 {
		t.Errorf("external answer names queue %d", a.QueueID)
	}
	if a := answerOf(&model.Ticket{ID: 1, QueueID: 9, Routing: model.RoutingNative}); a.QueueID != 9 {
		t.Errorf("native answer names queue %d, want 9", a.QueueID)
	}
}

// TestForwardedCall: central gets a native call as external (its ACD
// stays out), with the edge's identification and a de-duplication key.
func TestForwardedCall(t *testing.T) {
	c := model.Call{Routing: model.RoutingNative, Direction: model.DirectionIn}
	tk := model.Ticket{ID: 1000700000000005, ContractID: "k", CustomerID: "c", ChannelID: "edge-1", Status: model.StatusOpen}
	up := forwarded(&c, &tk)
	if up.Routing != model.RoutingExternal || up.ContractID != "k" || up.CustomerID != "c" || up.ChannelID != "edge-1" ||
		up.ExternalTicketID != "enneo-edge-1000700000000005" {
		t.Fatalf("forwarded %+v", up)
	}
	if c.Routing != model.RoutingNative {
		t.Fatal("forwarded changed the PBX's call")
	}
	c.ExternalTicketID = "pbx-7"
	if up := forwarded(&c, &tk); up.ExternalTicketID != "pbx-7" {
		t.Fatalf("externalTicketId %q, want the PBX's", up.ExternalTicketID)
	}
}

// TestSiteIDs: IDs keep their readable layout 1 SSSS NNNNNNNNNNN, which
// is on disk and at central.
func TestSiteIDs(t *testing.T) {
	if got := siteID(7, 5); got != 1000700000000005 {
		t.Fatalf("siteID(7, 5) = %d", got)
	}
	if got := siteID(9999, 99_999_999_999); got >= 1<<53 {
		t.Fatalf("largest ID %d is not exact in JavaScript", got)
	}
}
