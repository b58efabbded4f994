// The five messaging workloads of go-bench (see main.go and shared/DESIGN.md).
// Each actor is a goroutine that owns the receiving end of its mailbox
// channel; the main goroutine starts the clock just before the first actor is
// started and stops it when it has received the final "done".
package main

import (
	"fmt"
	"os"
	"time"
)

// pingpong N: ping sends to pong, pong answers, N round trips.
// Only one message is ever in flight, so a mailbox of depth 1 is enough for
// a send never to wait for the receiver to arrive at the channel.
func pingpong(sizes []int) {
	n := sizes[0]
	pongBox := make(chan chan<- struct{}, 1) // a ping carries its reply-to mailbox
	pingBox := make(chan struct{}, 1)
	done := make(chan struct{})

	start := time.Now()
	go func() { // pong
		for from := range pongBox {
			from <- struct{}{}
		}
	}()
	go func() { // ping
		for left := n; left > 0; left-- {
			pongBox <- pingBox
			<-pingBox
		}
		done <- struct{}{}
	}()
	<-done
	elapsed := time.Since(start)
	result("pingpong", n, elapsed, 2*float64(n)/elapsed.Seconds())
}

// threadring R N: R actors in a ring pass one token that carries the hops
// left; the actor that receives 0 reports done. One token, so depth 1.
func threadring(sizes []int) {
	r, n := sizes[0], sizes[1]
	boxes := make([]chan int, r)
	for i := range boxes {
		boxes[i] = make(chan int, 1)
	}
	done := make(chan struct{})

	start := time.Now()
	for i := range boxes {
		go ringNode(boxes[i], boxes[(i+1)%r], done)
	}
	boxes[0] <- n
	<-done
	elapsed := time.Since(start)
	result("threadring", n, elapsed, float64(n)/elapsed.Seconds())
}

func ringNode(box <-chan int, next chan<- int, done chan<- struct{}) {
	for hopsLeft := range box {
		if hopsLeft == 0 {
			done <- struct{}{}
			return
		}
		next <- hopsLeft - 1
	}
}

// fanoutDepth is the depth of a fanout receiver's mailbox: deep enough that
// the sender rarely waits for a receiver to catch up.
const fanoutDepth = 1024

// fanout A M: one sender sends M messages to each of A receivers, round
// robin; each receiver reports to the collector once it has counted M.
func fanout(sizes []int) {
	a, m := sizes[0], sizes[1]
	boxes := make([]chan int, a)
	for i := range boxes {
		boxes[i] = make(chan int, fanoutDepth)
	}
	done := make(chan struct{}, a)

	start := time.Now()
	for _, box := range boxes {
		go fanoutReceiver(box, m, done)
	}
	go func() { // the sender
		for i := 0; i < m; i++ {
			for _, box := range boxes {
				box <- i
			}
		}
	}()
	for i := 0; i < a; i++ {
		<-done
	}
	elapsed := time.Since(start)
	result("fanout", a*m, elapsed, float64(a*m)/elapsed.Seconds())
}

func fanoutReceiver(box <-chan int, m int, done chan<- struct{}) {
	for count := 0; count < m; count++ {
		<-box
	}
	done <- struct{}{}
}

// spawn N: a spawner starts N actors one after another and sends each one
// message carrying the collector's mailbox; each actor sends one message to
// the collector and exits. A new actor's mailbox has depth 1 so that the
// spawner does not wait for the actor to be scheduled; the collector's has
// depth 1024 so that finished actors seldom wait for it.
func spawn(sizes []int) {
	n := sizes[0]
	collector := make(chan struct{}, 1024)

	start := time.Now()
	go func() { // the spawner
		for i := 0; i < n; i++ {
			box := make(chan chan<- struct{}, 1)
			go spawned(box)
			box <- collector
		}
	}()
	for i := 0; i < n; i++ {
		<-collector
	}
	elapsed := time.Since(start)
	result("spawn", n, elapsed, float64(n)/elapsed.Seconds())
}

func spawned(box <-chan chan<- struct{}) {
	collector := <-box
	collector <- struct{}{}
}

// bigMsg is a ping from actor `from`, or a pong.
type bigMsg struct {
	from int32
	ping bool
}

// big A N (Savina Big): each of A actors sends N pings, one at a time, to
// peers chosen at random and answers every ping it gets with a pong, also
// after it has reported to the sink. An actor has at most one ping of its
// own outstanding, so its mailbox never holds more than A-1 pings and one
// pong: depth A+1 means no send ever blocks.
func big(sizes []int) {
	a, n := sizes[0], sizes[1]
	if a < 2 {
		fmt.Fprintln(os.Stderr, "big: needs at least 2 actors")
		os.Exit(2)
	}
	boxes := make([]chan bigMsg, a)
	for i := range boxes {
		boxes[i] = make(chan bigMsg, a+1)
	}
	sink := make(chan struct{}, a)

	start := time.Now()
	for i := range boxes {
		go bigActor(int32(i), boxes, n, sink)
	}
	for i := 0; i < a; i++ {
		<-sink
	}
	elapsed := time.Since(start)
	result("big", 2*a*n, elapsed, 2*float64(a*n)/elapsed.Seconds())
}

func bigActor(me int32, peers []chan bigMsg, n int, sink chan<- struct{}) {
	box := peers[me]
	rng := newXorshift(uint64(me))
	others := uint64(len(peers) - 1)
	sendPing := func() {
		peer := int32(rng.next() % others) // any actor but me
		if peer >= me {
			peer++
		}
		peers[peer] <- bigMsg{from: me, ping: true}
	}

	left := n
	sendPing()
	for msg := range box {
		if msg.ping {
			peers[msg.from] <- bigMsg{}
			continue
		}
		left--
		if left > 0 {
			sendPing()
		} else {
			sink <- struct{}{} // done, but keeps answering pings
		}
	}
}

// xorshift is Marsaglia's xorshift64* generator: a few cycles per number.
type xorshift struct{ state uint64 }

func newXorshift(seed uint64) *xorshift {
	// Spread consecutive seeds; the state must never be zero.
	return &xorshift{state: (seed + 1) * 0x9E3779B97F4A7C15}
}

func (x *xorshift) next() uint64 {
	x.state ^= x.state >> 12
	x.state ^= x.state << 25
	x.state ^= x.state >> 27
	return x.state * 0x2545F4914F6CDD1D
}
