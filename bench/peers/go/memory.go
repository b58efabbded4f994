// The memory workload of go-bench (see main.go and shared/DESIGN.md).
package main

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// memory K: the RSS growth for K idle actors, each a goroutine blocked
// receiving on its own unbuffered mailbox. Every goroutine checks in on a
// WaitGroup just before it blocks, so all K exist at the second RSS read.
func memory(sizes []int) {
	k := sizes[0]
	boxes := make([]chan struct{}, k) // keeps every mailbox reachable

	var started sync.WaitGroup
	started.Add(k)
	before := rssBytes()
	start := time.Now()
	for i := range boxes {
		boxes[i] = make(chan struct{})
		go idle(boxes[i], &started)
	}
	started.Wait()
	elapsed := time.Since(start)
	after := rssBytes()
	runtime.KeepAlive(boxes)

	fmt.Printf("RESULT peer=go bench=memory n=%d secs=%.3f bytes_per_actor=%.0f\n",
		k, elapsed.Seconds(), float64(after-before)/float64(k))
}

func idle(box <-chan struct{}, started *sync.WaitGroup) {
	started.Done()
	<-box // never comes
}

// rssBytes is the resident set size: the second field of /proc/self/statm
// (resident pages) times the page size.
func rssBytes() int64 {
	statm, err := os.ReadFile("/proc/self/statm")
	var fields [][]byte
	if err == nil {
		fields = bytes.Fields(statm)
	}
	if len(fields) < 2 {
		fmt.Fprintln(os.Stderr, "cannot read /proc/self/statm")
		os.Exit(1)
	}
	pages, err := strconv.ParseInt(string(fields[1]), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, "cannot parse /proc/self/statm")
		os.Exit(1)
	}
	return pages * int64(os.Getpagesize())
}
