// go-bench: the six benchmark workloads of hive's bench/ (defined in
// shared/DESIGN.md, "Benchmarks"), written for Go so that hive can be
// compared with it. Actors are goroutines and each actor's mailbox is a
// channel; the main goroutine is the collector that observes "done".
//
//	go-bench WORKLOAD [-w W] [SIZES...]
//
// WORKLOAD is one of pingpong threadring fanout spawn big memory. -w W with
// W > 0 sets GOMAXPROCS to W; 0 or absent keeps Go's default (one per CPU).
// The last line printed is the RESULT line of the shared design.
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// workload is one benchmark: its default sizes, a usage hint for them, and
// the function that runs it on the sizes and prints the RESULT line.
type workload struct {
	defaults []int
	usage    string
	run      func(sizes []int)
}

var workloads = map[string]workload{
	"pingpong":   {[]int{2000000}, "[ROUND_TRIPS]", pingpong},
	"threadring": {[]int{503, 10000000}, "[RING_SIZE [HOPS]]", threadring},
	"fanout":     {[]int{60, 250000}, "[RECEIVERS [MESSAGES_EACH]]", fanout},
	"spawn":      {[]int{1000000}, "[ACTORS]", spawn},
	"big":        {[]int{120, 40000}, "[ACTORS [PINGS_EACH]]", big},
	"memory":     {[]int{100000}, "[ACTORS]", memory},
}

const names = "pingpong threadring fanout spawn big memory"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintf(os.Stderr, "usage: %s WORKLOAD [-w W] [SIZES...]\n  WORKLOAD: %s\n", os.Args[0], names)
		os.Exit(2)
	}
	w, ok := workloads[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown workload %q (one of: %s)\n", os.Args[0], os.Args[1], names)
		os.Exit(2)
	}
	workers, sizes, err := parseArgs(os.Args[2:], w.defaults)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\nusage: %s %s [-w W] %s\n", os.Args[0], err, os.Args[0], os.Args[1], w.usage)
		os.Exit(2)
	}
	if workers > 0 {
		runtime.GOMAXPROCS(workers)
	}
	w.run(sizes)
}

// parseArgs reads "-w W" and the positional sizes; sizes not given keep
// their defaults.
func parseArgs(args []string, defaults []int) (workers int, sizes []int, err error) {
	sizes = append([]int(nil), defaults...)
	given := 0
	for i := 0; i < len(args); i++ {
		if args[i] == "-w" {
			if i+1 == len(args) {
				return 0, nil, fmt.Errorf("-w needs a worker count")
			}
			i++
			if workers, err = strconv.Atoi(args[i]); err != nil || workers < 0 {
				return 0, nil, fmt.Errorf("bad worker count %q", args[i])
			}
			continue
		}
		n, err := strconv.Atoi(args[i])
		if err != nil || n <= 0 {
			return 0, nil, fmt.Errorf("bad size %q", args[i])
		}
		if given == len(sizes) {
			return 0, nil, fmt.Errorf("too many sizes")
		}
		sizes[given] = n
		given++
	}
	return workers, sizes, nil
}

func result(name string, n int, elapsed time.Duration, rate float64) {
	fmt.Printf("RESULT peer=go bench=%s n=%d secs=%.3f rate=%.0f\n", name, n, elapsed.Seconds(), rate)
}
