package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/syncd/syncd/remote"
	"github.com/syncd/syncd/sync/engine"
)

// metrics are the daemon's Prometheus metrics, in a registry of its own.
type metrics struct {
	reg       *prometheus.Registry
	ops       *prometheus.CounterVec
	bytes     *prometheus.CounterVec
	pending   *prometheus.GaugeVec
	conflicts *prometheus.CounterVec
	problems  *prometheus.GaugeVec
	passes    *prometheus.CounterVec
	api       *prometheus.HistogramVec
	apiStatus *prometheus.CounterVec

	mu       sync.Mutex
	lastGood map[string]time.Time
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_operations_total",
			Help: "Sync operations by pair, type and result."}, []string{"pair", "op", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_transfer_bytes_total",
			Help: "Bytes transferred by pair and direction."}, []string{"pair", "direction"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "syncd_queue_depth",
			Help: "Operations planned but not applied after the last pass."}, []string{"pair"}),
		conflicts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_conflicts_total",
			Help: "Conflicts resolved by keeping both versions."}, []string{"pair"}),
		problems: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "syncd_problems",
			Help: "Paths that cannot be synced, as of the last pass."}, []string{"pair"}),
		passes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_passes_total",
			Help: "Sync passes by pair and result."}, []string{"pair", "result"}),
		api: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "syncd_api_request_duration_seconds",
			Help: "API request latency by endpoint.", Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}, []string{"endpoint"}),
		apiStatus: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_api_responses_total",
			Help: "API responses by endpoint and HTTP status (429s and 5xx lead to retries)."}, []string{"endpoint", "code"}),
		lastGood: map[string]time.Time{},
	}
	m.reg.MustRegister(m.ops, m.bytes, m.pending, m.conflicts, m.problems, m.passes, m.api, m.apiStatus,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "syncd_seconds_since_last_success",
		Help: "Seconds since the oldest pair's last successful pass (-1 before the first)."}, m.sinceLastGood))
	return m
}

func (m *metrics) sinceLastGood() float64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.lastGood) == 0 {
		return -1
	}
	var oldest time.Time
	for _, t := range m.lastGood {
		if oldest.IsZero() || t.Before(oldest) {
			oldest = t
		}
	}
	return time.Since(oldest).Seconds()
}

func (m *metrics) observeOp(ev engine.OpEvent) {
	m.ops.WithLabelValues(ev.Pair, ev.Op.Kind.String(), ev.Status.String()).Inc()
	if ev.Status == engine.OpDone && ev.Bytes > 0 {
		dir := "up"
		if ev.Op.Kind.String() == "download" {
			dir = "down"
		}
		m.bytes.WithLabelValues(ev.Pair, dir).Add(float64(ev.Bytes))
	}
}

func (m *metrics) observePass(pair string, res engine.PassResult, err error) {
	result := "ok"
	if err != nil || res.Failed > 0 {
		result = "error"
	} else {
		m.mu.Lock()
		m.lastGood[pair] = time.Now()
		m.mu.Unlock()
	}
	m.passes.WithLabelValues(pair, result).Inc()
	m.pending.WithLabelValues(pair).Set(float64(res.Skipped + res.Failed))
	m.conflicts.WithLabelValues(pair).Add(float64(res.ConflictsLogged))
	m.problems.WithLabelValues(pair).Set(float64(len(res.Plan.Problems)))
}

// transport measures API requests. Only the URL path's endpoint is used as
// a label: never the query, which may hold tokens.
func (m *metrics) transport(next http.RoundTripper) http.RoundTripper {
	return roundTripFunc(func(r *http.Request) (*http.Response, error) {
		ep := endpointOf(r.URL.Path)
		start := time.Now()
		resp, err := next.RoundTrip(r)
		m.api.WithLabelValues(ep).Observe(time.Since(start).Seconds())
		code := "error"
		if err == nil {
			code = fmt.Sprint(resp.StatusCode)
		}
		m.apiStatus.WithLabelValues(ep, code).Inc()
		return resp, err
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func endpointOf(p string) string {
	if i := strings.Index(p, "/api/v2/"); i >= 0 {
		return strings.Trim(p[i+len("/api/v2/"):], "/")
	}
	return "download"
}

// serve exposes /metrics on addr, loopback unless the configuration allows
// otherwise (config validates that).
func (m *metrics) serve(addr string, log *zap.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("metrics server stopped", zap.Error(err))
		}
	}()
	log.Info("metrics listening", zap.String("addr", l.Addr().String()))
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	}, nil
}

func isAuthError(err error) bool {
	return errors.Is(err, remote.ErrBadKeys) || errors.Is(err, remote.ErrNoAPIAccess)
}
