package clock

import (
	"testing"
	"time"
)

func TestManualFiresOnlyWhenReached(t *testing.T) {
	start := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	c := NewManual(start)
	ch := c.After(time.Minute)
	if !c.Waiting(start.Add(time.Minute)) || c.Waiting(start.Add(2*time.Minute)) {
		t.Fatal("Waiting does not see the timer at its deadline only")
	}
	c.Advance(59 * time.Second)
	select {
	case <-ch:
		t.Fatal("fired before its deadline")
	default:
	}
	c.Advance(time.Second)
	select {
	case at := <-ch:
		if !at.Equal(start.Add(time.Minute)) {
			t.Fatalf("fired with %v", at)
		}
	default:
		t.Fatal("did not fire at its deadline")
	}
	if got := c.Now(); !got.Equal(start.Add(time.Minute)) {
		t.Fatalf("Now = %v", got)
	}
	select {
	case <-c.After(0):
	default:
		t.Fatal("After(0) did not fire at once")
	}
	if Or(nil) != Real || Or(c) != c {
		t.Fatal("Or")
	}
}
