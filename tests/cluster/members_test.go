package cluster

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/enneo-edge/enneo-edge/internal/edgetest"
)

// TestReplaceDeadMemberFromTheOthers: a member dies with its disk (its
// data directory is wiped), the operator removes it and the other two go
// on taking calls; a new machine under the same name with an empty
// directory is added back and gets everything from the others: the same
// tickets as they have, written before and after it died.
func TestReplaceDeadMemberFromTheOthers(t *testing.T) {
	c := newCluster(t, options{})
	var rr atomic.Int64
	p := c.pbx(t, &rr)
	ack := newAcked()
	calls := func(prefix string, n int, p pbx) {
		for i := range n {
			ch := fmt.Sprintf("%s-%d", prefix, i)
			a := p.must("POST", "/api/mind/telephony/callReceived", fmt.Sprintf(`{"routing":"none","channelId":%q,"phone":"+4930444%04d"}`, ch, i))
			ack.add(t, ch, kindProbe, num(a.Body["ticketId"]))
		}
	}
	calls("before", 30, p)
	lead := c.waitLeader(30 * time.Second)
	dead := c.followers(lead)[0]
	dead.kill(t)
	entries, err := os.ReadDir(dead.dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dead.dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}

	var alive []*node
	for _, n := range c.nodes {
		if n != dead {
			alive = append(alive, n)
		}
	}
	two := c.pbxOn(t, &rr, alive...)
	// The operator's commands, on a surviving member (a follower forwards).
	cli := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"cluster", "-config", alive[1].cfg}, args...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("enneo-edge cluster %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	t.Logf("enneo-edge cluster status with %s dead:\n%s", dead.name, cli("status"))
	cli("remove", dead.name)
	edgetest.WaitFor(t, "the member list without "+dead.name, 10*time.Second, func() bool {
		s, err := lead.status()
		return err == nil && len(s.Members) == 2
	})
	calls("without", 20, two)

	cli("add", dead.name, dead.peer)
	dead.start(t)
	edgetest.WaitFor(t, "three members again", 20*time.Second, func() bool {
		l := c.leader()
		if l == nil {
			return false
		}
		s, err := l.status()
		return err == nil && len(s.Members) == 3
	})
	calls("after", 20, p)
	if out := cli("status"); !strings.Contains(out, dead.name) || !strings.Contains(out, lead.name) {
		t.Errorf("enneo-edge cluster status after the replacement does not name %s and the leader:\n%s", dead.name, out)
	}
	settle(t, c, p)
	c.waitCaughtUp(30 * time.Second)
	c.verifyTickets(ack)
	c.verifyCentral(ack, p)
	c.checkFiles()
	c.verifyExports(ack)
}
