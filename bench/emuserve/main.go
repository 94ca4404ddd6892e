// Command emuserve serves the API emulator on loopback for the curl
// comparison: its first line on stdout is "listening on URL", as `syncd
// emulator` prints it, and it serves until interrupted. The demo account's
// public keys are used (emulator.DemoKey1, DemoKey2).
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/syncd/syncd/remote/emulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "loopback address to listen on")
	data := flag.String("data", "", "data directory (required)")
	flag.Parse()
	if err := run(*listen, *data); err != nil {
		fmt.Fprintln(os.Stderr, "emuserve:", err)
		os.Exit(1)
	}
}

func run(listen, data string) error {
	if data == "" {
		return fmt.Errorf("-data is required")
	}
	host, _, err := net.SplitHostPort(listen)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-listen %s: loopback addresses only", listen)
	}
	srv, err := emulator.New(emulator.Options{DataDir: data, NoSync: true})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s/api/v2/\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	hs := &http.Server{Handler: srv}
	go func() {
		<-ctx.Done()
		hs.Close()
	}()
	if err := hs.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}
