package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
)

// table prints the results files (one JSON result per line) as markdown:
// every run, then the mean per variant and load.
func table(files []string) error {
	var rs []result
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var r result
			if json.Unmarshal(sc.Bytes(), &r) == nil && r.Variant != "" {
				rs = append(rs, r)
			}
		}
		fh.Close()
	}
	hdr := "| variant | load | runs | writes/s | p50 µs | p99 µs | CPU µs/write (sys) | write_bytes/write | wchar/write | vda bytes/write (machine-wide) | file growth/write | mallocs/write | writes/commit | LSM flushed+compacted B/write |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	type key struct{ v, l string }
	groups := map[key][]result{}
	var keys []key
	for _, r := range rs {
		k := key{r.Variant, r.Load}
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	sort.SliceStable(keys, func(i, j int) bool {
		if keys[i].l != keys[j].l {
			return keys[i].l > keys[j].l
		}
		return keys[i].v < keys[j].v
	})
	fmt.Print("Mean of runs per variant and load:\n\n")
	fmt.Println(hdr)
	for _, k := range keys {
		g := groups[k]
		var m result
		for _, r := range g {
			m.WritesPerS += r.WritesPerS
			m.P50us += r.P50us
			m.P99us += r.P99us
			m.CPUus += r.CPUus
			m.SysUs += r.SysUs
			m.DiskB += r.DiskB
			m.WcharB += r.WcharB
			m.DirGrowthB += r.DirGrowthB
			m.Mallocs += r.Mallocs
			m.PerCommit += r.PerCommit
			m.DevB += r.DevB
			m.Seconds += lsm(r)
		}
		n := float64(len(g))
		fmt.Printf("| %s | %s | %d | %.0f | %.0f | %.0f | %.0f (%.0f) | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f |\n", k.v, k.l, len(g),
			m.WritesPerS/n, m.P50us/n, m.P99us/n, m.CPUus/n, m.SysUs/n, m.DiskB/n, m.WcharB/n, m.DevB/n, m.DirGrowthB/n, m.Mallocs/n, m.PerCommit/n, m.Seconds/n)
	}
	fmt.Print("\nEvery run:\n\n")
	fmt.Println(hdr)
	for _, r := range rs {
		fmt.Printf("| %s | %s | 1 | %.0f | %.0f | %.0f | %.0f (%.0f) | %.0f | %.0f | %.0f | %.0f | %.0f | %.1f | %.0f |\n", r.Variant, r.Load,
			r.WritesPerS, r.P50us, r.P99us, r.CPUus, r.SysUs, r.DiskB, r.WcharB, r.DevB, r.DirGrowthB, r.Mallocs, r.PerCommit, lsm(r))
	}
	return nil
}

// lsm is the sstable bytes pebble flushed and compacted during the run, per
// write (0 for bbolt).
func lsm(r result) float64 {
	d := func(k string) float64 { return float64(r.Stats[k] - r.StatsBefore[k]) }
	return (d("table_bytes_flushed") + d("table_bytes_compacted")) / float64(r.Writes)
}
