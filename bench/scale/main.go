// Command scale measures whether the hot paths stay flat as the state
// grows (issue 14): getRouting, callReceived and agentConnected at a fixed
// rate against a store holding 10k or 1M customers and tickets, 10 or 500
// agents online and 0, 500 or 5,000 waiting calls. It drives db.Store in
// process, the layer whose cost depends on the state (HTTP decoding and
// encoding do not), durable as the server is: every write waits for its
// group commit and fsync. It prints one markdown table; every row is
// measured in the same run as the first, its baseline.
//
//	go run ./bench/scale -tickets 10000,1000000 -rate 200 -duration 5s
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/enneo-edge/enneo-edge/db"
	"github.com/enneo-edge/enneo-edge/model"
	"github.com/enneo-edge/enneo-edge/routing"
)

func main() {
	dir := flag.String("dir", "", "directory for the databases (default: a temporary one, removed after)")
	tickets := flag.String("tickets", "10000,1000000", "stored customers and tickets, one database each")
	rate := flag.Float64("rate", 200, "calls per second of each kind, on a fixed schedule")
	dur := flag.Duration("duration", 5*time.Second, "length of each measurement")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of each database's measurements (not its seeding) to PREFIX-<tickets>.pprof")
	flag.Parse()
	var sizes []int
	for _, f := range strings.Split(*tickets, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "scale: -tickets %q: want positive counts\n", *tickets)
			os.Exit(2)
		}
		sizes = append(sizes, n)
	}
	if *dir == "" {
		d, err := os.MkdirTemp("", "enneo-scale-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "scale:", err)
			os.Exit(1)
		}
		defer os.RemoveAll(d)
		*dir = d
	}
	if err := run(*dir, sizes, *rate, *dur); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// row is one state and what each operation measured in it.
type row struct {
	tickets, agents, waiting int
	ops                      [3]result
}

type result struct{ p50, p99, cpu time.Duration }

var opNames = [3]string{"getRouting", "callReceived", "agentConnected"}

func run(dir string, sizes []int, rate float64, dur time.Duration) error {
	var rows []row
	for _, n := range sizes {
		r, err := runSize(filepath.Join(dir, fmt.Sprintf("scale-%d.db", n)), n, rate, dur)
		if err != nil {
			return err
		}
		rows = append(rows, r...)
	}
	printTable(rows, rate, dur)
	return nil
}

// cpuProfile is the -cpuprofile prefix ("" = none).
var cpuProfile string

func phone(i int) string { return fmt.Sprintf("+49151%08d", i) }

func call(r, channel, ph string) db.NewCall {
	return db.NewCall{Call: model.Call{Routing: r, Direction: model.DirectionIn, Status: model.StatusOpen, ChannelID: channel,
		Phone: ph, SubchannelID: 1, Transcript: []model.TranscriptEntry{{Speaker: "customer", Message: "Meine Abschlagszahlung ist zu hoch."}}},
		CallerE164: ph}
}

// runSize seeds one database with n customers and tickets and measures
// the rows of agents and waiting calls on it, growing the state between
// rows: (10, 0), (500, 0), (500, 500), (500, 5,000).
func runSize(path string, n int, rate float64, dur time.Duration) ([]row, error) {
	// Calls of line 1 wait for skill 1: agents 1..10 have it, the others
	// serve 49 other skills, so every row's getRouting lists 10 agents.
	s, err := db.Open(path, db.Options{SiteID: 1, Routing: routing.Config{SubchannelTags: map[int64]int64{1: 1}}})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go s.Run(ctx)
	defer func() { cancel(); _ = s.Close() }()

	start := time.Now()
	const batch = 10_000
	for i := 0; i < n; i += batch {
		var cs []model.Customer
		var ncs []db.NewCall
		for j := i; j < min(i+batch, n); j++ {
			id := strconv.Itoa(j + 1)
			cs = append(cs, model.Customer{ID: id, ContractIDs: []string{"C" + id}, Phones: []string{phone(j)},
				PhonesE164: []string{phone(j)}, Firstname: "Erika", Lastname: "Mustermann " + id, Email: "kunde" + id + "@example.org"})
			ncs = append(ncs, call(model.RoutingExternal, "seed-"+id, phone(j)))
		}
		if err := s.UpsertCustomersBulk(cs); err != nil {
			return nil, err
		}
		if err := s.CreateCallsBulk(ncs); err != nil {
			return nil, err
		}
	}
	fmt.Fprintf(os.Stderr, "%d customers and tickets seeded in %v\n", n, time.Since(start).Round(time.Millisecond))

	if cpuProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s-%d.pprof", cpuProfile, n))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	agents, waiting := 0, 0
	addAgents := func(to int) error {
		var as []model.Agent
		for id := agents + 1; id <= to; id++ {
			tag := int64(1)
			if id > 10 {
				tag = int64(2 + id%49)
			}
			as = append(as, model.Agent{ID: int64(id), Name: "Agent " + strconv.Itoa(id), SkillTagIDs: []int64{tag}})
		}
		agents = to
		return s.PutAgentsBulk(as, model.PresenceUnavailable)
	}
	addWaiting := func(to int) error {
		var ncs []db.NewCall
		for i := waiting; i < to; i++ {
			ncs = append(ncs, call(model.RoutingNative, "wait-"+strconv.Itoa(i), phone(i%n)))
		}
		waiting = to
		return s.CreateCallsBulk(ncs)
	}
	var rows []row
	seq := 0
	for _, st := range []struct{ agents, waiting int }{{10, 0}, {500, 0}, {500, 500}, {500, 5000}} {
		if err := addAgents(st.agents); err != nil {
			return nil, err
		}
		if err := addWaiting(st.waiting); err != nil {
			return nil, err
		}
		r := row{tickets: n, agents: agents, waiting: waiting}
		// The probe waits last in the queue: the walk getRouting's
		// position replaced stepped over every call before it.
		seq++
		probe, err := s.CreateCall(ctx, call(model.RoutingNative, "probe-"+strconv.Itoa(seq), phone(1)))
		if err != nil {
			return nil, err
		}
		waiting++
		ticket := probe.Answer.TicketID
		r.ops[0], err = measure(rate, dur, func(int) error {
			_, err := s.Routing(db.RoutingQuery{TicketID: ticket})
			return err
		})
		if err != nil {
			return nil, err
		}
		r.ops[1], err = measure(rate, dur, func(i int) error {
			_, err := s.CreateCall(ctx, call(model.RoutingExternal, fmt.Sprintf("cr-%d-%d", seq, i), phone(i*7919%n)))
			return err
		})
		if err != nil {
			return nil, err
		}
		// agentConnected: tickets made beforehand, agents 1..10 taken from
		// a pool and freed by a callCompleted after the measured call (its
		// CPU is in the row, its latency is not).
		total := int(rate*dur.Seconds()) + 1
		var conn []db.NewCall
		for i := range total {
			conn = append(conn, call(model.RoutingExternal, fmt.Sprintf("ac-%d-%d", seq, i), phone(i%n)))
		}
		if err := s.CreateCallsBulk(conn); err != nil {
			return nil, err
		}
		ids := make([]int64, total)
		for i := range total {
			if ids[i], err = s.TicketByChannel(fmt.Sprintf("ac-%d-%d", seq, i)); err != nil {
				return nil, err
			}
		}
		pool := make(chan int64, 10)
		for id := int64(1); id <= 10; id++ {
			pool <- id
		}
		r.ops[2], err = measureSplit(rate, dur, func(i int) (func() error, error) {
			id, user := ids[i], <-pool
			if _, err := s.AgentConnected(ctx, model.AgentConnected{UserID: user, TicketID: id}); err != nil {
				pool <- user
				return nil, err
			}
			return func() error {
				defer func() { pool <- user }()
				_, err := s.CallCompleted(ctx, model.CallCompleted{TicketID: id})
				return err
			}, nil
		})
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(os.Stderr, "tickets %d agents %d waiting %d: %v\n", r.tickets, r.agents, r.waiting, r.ops)
		rows = append(rows, r)
	}
	return rows, nil
}

// measure runs op at rate for dur on a fixed schedule (open model:
// latency counts from when a call was due) and returns p50, p99 and the
// process's CPU time per call.
func measure(rate float64, dur time.Duration, op func(i int) error) (result, error) {
	return measureSplit(rate, dur, func(i int) (func() error, error) { return nil, op(i) })
}

// measureSplit is measure for an op whose second part (the returned
// function) runs after its latency is taken.
func measureSplit(rate float64, dur time.Duration, op func(i int) (func() error, error)) (result, error) {
	n := int(rate * dur.Seconds())
	interval := time.Duration(float64(time.Second) / rate)
	lat := make([]time.Duration, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	cpu0 := cpuTime()
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Go(func() {
			after, err := op(i)
			lat[i] = time.Since(due)
			if err == nil && after != nil {
				err = after()
			}
			if err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	cpu := cpuTime() - cpu0
	select {
	case err := <-errs:
		return result{}, err
	default:
	}
	slices.Sort(lat)
	return result{p50: lat[n/2], p99: lat[n*99/100], cpu: cpu / time.Duration(n)}, nil
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }
func us(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e3, 'f', 0, 64) }

func printTable(rows []row, rate float64, dur time.Duration) {
	fmt.Printf("%g calls/s of each kind, %v each, in process (db.Store, fsync on). Ratios: p99 and CPU per call to the first row.\n\n", rate, dur)
	fmt.Println("| tickets+customers | agents online | waiting | op | p50 ms | p99 ms | CPU µs/call | p99 × | CPU × |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	base := rows[0]
	for _, r := range rows {
		for i, o := range r.ops {
			b := base.ops[i]
			fmt.Printf("| %d | %d | %d | %s | %s | %s | %s | %.2f | %.2f |\n", r.tickets, r.agents, r.waiting, opNames[i],
				ms(o.p50), ms(o.p99), us(o.cpu), float64(o.p99)/float64(b.p99), float64(o.cpu)/float64(b.cpu))
		}
	}
}
