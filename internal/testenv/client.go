package testenv

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/remote/emulator"
)

// Quick fits a client to an emulator on this machine: a rate limit no test
// reaches (1,000 requests a second) and retries after a millisecond rather
// than the product's delays. Benchmarks of the client itself leave it out.
func Quick(c *remote.Config) {
	c.RequestsPerSecond = 1000
	c.RetryBaseDelay = time.Millisecond
}

// ClientConfig is the configuration of a client of acct at ep, changed by
// mods in order; the client's own defaults for the rest.
func ClientConfig(ep *Endpoint, acct emulator.Account, mods ...func(*remote.Config)) remote.Config {
	cfg := remote.Config{URL: ep.URL, Key1: acct.Key1, Key2: acct.Key2, HTTPClient: ep.HTTPClient}
	for _, m := range mods {
		m(&cfg)
	}
	return cfg
}

// Connect makes a client of cfg ready as a starting process does: it
// authorizes (taking the account's one live token, api.md 7, from every
// other client) and reads the account's package (its limits).
func Connect(ctx context.Context, cfg remote.Config) (*remote.Client, error) {
	c, err := remote.New(cfg)
	if err != nil {
		return nil, err
	}
	if err := c.Authorize(ctx); err != nil {
		return nil, fmt.Errorf("authorize: %w", err)
	}
	if _, err := c.Package(ctx); err != nil {
		return nil, fmt.Errorf("package: %w", err)
	}
	return c, nil
}

// Config is the configuration of a client of s's account (ClientConfig).
func (s *Server) Config(mods ...func(*remote.Config)) remote.Config {
	return ClientConfig(s.Endpoint, s.Account, mods...)
}

// Client is a connected client of s's account (Connect), configured by
// mods; it fails the test if the client cannot connect.
func (s *Server) Client(tb testing.TB, mods ...func(*remote.Config)) *remote.Client {
	tb.Helper()
	c, err := Connect(context.Background(), s.Config(mods...))
	if err != nil {
		tb.Fatalf("client: %v", err)
	}
	return c
}
