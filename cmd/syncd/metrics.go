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
	conflicts *prometheus.CounterVec
	problems  *prometheus.GaugeVec
	passes    *prometheus.CounterVec
	api       *prometheus.HistogramVec
	apiStatus *prometheus.CounterVec

	mu       sync.Mutex
	lastGood map[string]time.Time
	pending  map[string]int // per pair: what the last pass left undone
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		ops: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_operations_total",
			Help: "Sync operations by pair, type and result."}, []string{"pair", "op", "result"}),
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "syncd_transfer_bytes_total",
			Help: "Bytes transferred by pair and direction."}, []string{"pair", "direction"}),
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
		pending:  map[string]int{},
	}
	m.reg.MustRegister(m.ops, m.bytes, m.conflicts, m.problems, m.passes, m.api, m.apiStatus,
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
	m.mu.Lock()
	m.pending[pair] = res.Skipped + res.Failed
	m.mu.Unlock()
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

// watchPairs exposes, per pair, the queue depth (during a pass what its
// plan has left to do, else what the last pass left undone) and the
// progress of the running pass (files and bytes done and total, the ETA:
// absent between passes).
func (m *metrics) watchPairs(pairs []*pairRun) {
	m.reg.MustRegister(&pairCollector{m: m, pairs: pairs})
}

var (
	descQueue      = prometheus.NewDesc("syncd_queue_depth", "Operations waiting: during a pass, those its plan has left; between passes, those the last pass left undone.", []string{"pair"}, nil)
	descFilesDone  = prometheus.NewDesc("syncd_progress_files_done", "Operations of the running pass's plan that finished.", []string{"pair"}, nil)
	descFilesTotal = prometheus.NewDesc("syncd_progress_files_total", "Operations in the running pass's plan.", []string{"pair"}, nil)
	descBytesDone  = prometheus.NewDesc("syncd_progress_bytes_done", "Bytes the running pass's transfers moved, partial transfers included.", []string{"pair"}, nil)
	descBytesTotal = prometheus.NewDesc("syncd_progress_bytes_total", "Bytes the running pass's plan transfers.", []string{"pair"}, nil)
	descETA        = prometheus.NewDesc("syncd_progress_eta_seconds", "Estimated seconds left in the running pass, once a rate is known.", []string{"pair"}, nil)
)

// pairCollector reads the pairs' live progress at every scrape.
type pairCollector struct {
	m     *metrics
	pairs []*pairRun
}

func (c *pairCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descQueue, descFilesDone, descFilesTotal, descBytesDone, descBytesTotal, descETA} {
		ch <- d
	}
}

func (c *pairCollector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	gauge := func(d *prometheus.Desc, v float64, pair string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, pair)
	}
	for _, pr := range c.pairs {
		name := pr.cfg.Local
		c.m.mu.Lock()
		queue := c.m.pending[name]
		c.m.mu.Unlock()
		if pr.pair != nil {
			if p, ok := pr.pair.Progress(); ok {
				queue = p.FilesTotal - p.FilesDone
				gauge(descFilesDone, float64(p.FilesDone), name)
				gauge(descFilesTotal, float64(p.FilesTotal), name)
				gauge(descBytesDone, float64(p.BytesDone), name)
				gauge(descBytesTotal, float64(p.BytesTotal), name)
				if eta, ok := p.ETA(now); ok {
					gauge(descETA, eta.Seconds(), name)
				}
			}
		}
		gauge(descQueue, float64(queue), name)
	}
}
