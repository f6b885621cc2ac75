package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/enneo-edge/enneo-edge/bench"
)

func runBench(args []string) error { return benchCommand(args, os.Stdout, os.Stderr) }

// benchCommand is `enneo-edge bench`, writing its report to stdout and
// what it is about to write, and its progress, to stderr.
func benchCommand(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench")
	u := fs.String("url", "", "target base URL (http://host:port, …/api/mind, or the full callReceived URL); without it, a private appliance on a temporary database")
	live := fs.Bool("against-live", false, "accept that -url and -compare are written to: routing none calls, each leaving a closed ticket")
	agents := fs.Bool("agents", false, "with -against-live, allow -mix entries that name agents (userId, agentId, triggeredBy, aiAgentId)")
	disposable := fs.Bool("disposable", false, "-url and -compare are scratch servers started for this run (bench/compare.sh): send the full default mix, agents and queued calls included")
	token := fs.String("token", "", "API token, sent as Authorization: Bearer")
	name := fs.String("name", "target", "label of -url in the report and plot")
	compare := fs.String("compare", "", "second target run on the same schedule after the first (edge vs central)")
	token2 := fs.String("token2", "", "API token for -compare (default: -token)")
	name2 := fs.String("name2", "compare", "label of -compare")
	rate := fs.Float64("rate", 1000, "calls per second on a fixed schedule; 0 = closed model (saturation throughput, latency not corrected)")
	duration := durationVar(fs, "duration", 10*time.Second, "length of the schedule")
	conc := fs.Int("concurrency", 128, "connections, so the most calls in flight at once")
	timeout := durationVar(fs, "timeout", 5*time.Second, "timeout of one call")
	mixFile := fs.String("mix", "", "JSON Lines of {\"name\",\"weight\",\"body\"}; default: inbound external with transcript, inbound native, outbound")
	seed := fs.Uint64("seed", 1, "seed of the body sequence")
	out := fs.String("out", "", "write the latency percentile plot to FILE.svg (or .png, needs rsvg-convert)")
	jsonOut := fs.Bool("json", false, "write the results as JSON to stdout instead of the text report")
	vegeta := fs.String("vegeta-targets", "", "write rate×duration calls as vegeta JSON targets to FILE and exit (to cross-check with vegeta)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := wantArgs(fs, 0, 0, "no arguments"); err != nil {
		return err
	}
	if *u == "" && *vegeta != "" {
		return errors.New("-vegeta-targets needs -url: the targets name the server vegeta will call")
	}
	// Every URL given is someone's system: it is written to only when the
	// operator says so, and then only with calls that leave closed tickets.
	liveTargets := (*compare != "" || (*u != "" && *vegeta == "")) && !*disposable
	if *disposable && *live {
		return errors.New("-disposable and -against-live exclude each other: a target is scratch or live")
	}
	if liveTargets && !*live {
		return errors.New("-url and -compare write to the system named: every call creates a ticket there (routing none, closed, channelId " +
			bench.ChannelPrefix + "…, forwarded to central like any other); add -against-live to accept, -disposable for a scratch server of your own, or leave out -url to measure a private appliance")
	}
	if *agents && !*live {
		return errors.New("-agents only applies with -against-live")
	}
	if *out != "" && strings.EqualFold(filepath.Ext(*out), ".png") {
		if _, err := exec.LookPath("rsvg-convert"); err != nil {
			return fmt.Errorf("-out %s: needs rsvg-convert (install librsvg2-bin) or a .svg name", *out)
		}
	}
	mix := bench.DefaultMix()
	if liveTargets {
		mix = bench.LiveMix()
	}
	if *mixFile != "" {
		f, err := os.Open(*mixFile)
		if err != nil {
			return fmt.Errorf("-mix: %w", err)
		}
		mix, err = bench.ParseMix(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("-mix %s: %w", *mixFile, err)
		}
		if liveTargets {
			if err := mix.CheckLive(*agents); err != nil {
				return fmt.Errorf("-mix %s: %w", *mixFile, err)
			}
		}
	}
	if *vegeta != "" {
		f, err := os.Create(*vegeta)
		if err != nil {
			return fmt.Errorf("-vegeta-targets: %w", err)
		}
		n := int64(*rate * duration.Seconds())
		if err := bench.WriteVegetaTargets(f, bench.Target{URL: *u, Token: *token}, mix, *seed, n); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}
	targets := []bench.Target{{Name: *name, URL: *u, Token: *token}}
	if *u == "" {
		p, err := startPrivate("")
		if err != nil {
			return err
		}
		defer p.Close()
		if *name == "target" {
			*name = "private"
		}
		targets[0] = bench.Target{Name: *name, URL: p.URL, Token: p.Token}
		fmt.Fprintf(stderr, "bench: no -url, so a private appliance with %d idle agents on a temporary database (%s), removed afterwards\n", privateAgents, p.Dir)
	}
	if *compare != "" {
		if *token2 == "" {
			*token2 = *token
		}
		targets = append(targets, bench.Target{Name: *name2, URL: *compare, Token: *token2})
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := bench.Options{Rate: *rate, Duration: *duration, Concurrency: *conc, Timeout: *timeout, Mix: mix, Seed: *seed}
	for _, t := range targets {
		fmt.Fprintf(stderr, "bench will write to %s\n", bench.Describe(t, opts))
	}
	// The live line is for a person watching; logs and pipes get none.
	tty := stderr == os.Stderr && term.IsTerminal(int(os.Stderr.Fd()))
	if tty {
		opts.Progress = func(p bench.Progress) {
			fmt.Fprintf(stderr, "\r\033[K%s  %4.0fs  sent %d/%d  ok %d  errors %d", p.Target, p.Elapsed.Seconds(), p.Sent, p.Planned, p.OK, p.Errors)
		}
	}
	var results []*bench.Result
	for _, t := range targets {
		if ctx.Err() != nil {
			break
		}
		r, err := bench.Run(ctx, t, opts)
		if tty {
			fmt.Fprint(stderr, "\r\033[K")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", t.Name, err)
		}
		results = append(results, r)
	}
	if *out != "" {
		if err := writePlot(*out, plotTitle(opts), results); err != nil {
			return err
		}
	}
	write := bench.WriteText
	if *jsonOut {
		write = bench.WriteJSON
	}
	if err := write(stdout, results); err != nil {
		return err
	}
	return mostFailed(results)
}

// mostFailed fails a run in which fewer than half the planned calls were
// answered 200: its latency describes the errors, not the target.
func mostFailed(results []*bench.Result) error {
	for _, r := range results {
		if n := max(r.Planned, r.Sent); r.OK*2 < n {
			return fmt.Errorf("%s: most calls failed (%d ok of %d); see the errors above", r.Name, r.OK, n)
		}
	}
	return nil
}

func plotTitle(o bench.Options) string {
	if o.Rate == 0 {
		return fmt.Sprintf("callReceived latency, closed model, %d connections, %v", o.Concurrency, o.Duration)
	}
	return fmt.Sprintf("callReceived latency at %g calls/s for %v", o.Rate, o.Duration)
}

// writePlot writes the SVG, or converts it to PNG with rsvg-convert (from
// librsvg) when the name ends in .png.
func writePlot(path, title string, results []*bench.Result) error {
	var svg strings.Builder
	if err := bench.WriteSVG(&svg, title, results); err != nil {
		return err
	}
	if strings.EqualFold(filepath.Ext(path), ".png") {
		cmd := exec.Command("rsvg-convert", "-f", "png", "-o", path)
		cmd.Stdin = strings.NewReader(svg.String())
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("-out %s: rsvg-convert (install librsvg2-bin, or write .svg): %w", path, err)
		}
		return nil
	}
	if err := os.WriteFile(path, []byte(svg.String()), 0o644); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}
