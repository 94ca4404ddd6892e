// Command delayproxy is a TCP proxy that delays every byte by a fixed time
// in each direction, so that benchmarks on loopback see the round trip of
// a server across the internet (this kernel has no netem). It adds latency
// only: bytes are buffered, never throttled, and order is kept.
//
//	delayproxy -listen 127.0.0.1:0 -upstream 127.0.0.1:8080 -delay 10ms
//
// Its first line on stdout is "listening on HOST:PORT". A -delay of 10ms
// makes a 20 ms round trip.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "`ADDR` to listen on (loopback only)")
	upstream := flag.String("upstream", "", "`ADDR` to forward to (required)")
	delay := flag.Duration("delay", 10*time.Millisecond, "one-way delay added to every byte")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "delayproxy: -upstream is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("delayproxy: -listen: %v", err)
	}
	if a := ln.Addr().(*net.TCPAddr); !a.IP.IsLoopback() {
		log.Fatalf("delayproxy: -listen %s: only loopback addresses are allowed", a)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatalf("delayproxy: accept: %v", err)
		}
		go serve(c, *upstream, *delay)
	}
}

func serve(c net.Conn, upstream string, delay time.Duration) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		log.Printf("delayproxy: dial %s: %v", upstream, err)
		return
	}
	defer u.Close()
	done := make(chan struct{}, 2)
	go func() { pump(u, c, delay); done <- struct{}{} }()
	go func() { pump(c, u, delay); done <- struct{}{} }()
	<-done
	<-done
}

// pump copies src to dst, each chunk leaving delay after it arrived.
func pump(dst, src net.Conn, delay time.Duration) {
	type chunk struct {
		b  []byte
		at time.Time
	}
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(delay)}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					log.Printf("delayproxy: read: %v", err)
				}
				return
			}
		}
	}()
	broken := false
	for ch := range q {
		if broken {
			continue // drain, so the reader never blocks
		}
		time.Sleep(time.Until(ch.at))
		if _, err := dst.Write(ch.b); err != nil {
			broken = true
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
}
