// Command fakeworkspace serves the fake Databricks workspace that the Databricks CLI's own acceptance tests use
// (libs/testserver of the CLI module) on a loopback port, so the test suite can run `databricks bundle deploy`,
// `run` and `destroy` end to end without a workspace.
//
// It prints the server's URL as the first line of stdout, then serves until stdin is closed (the test process
// ended) or it gets SIGINT/SIGTERM. GET /fake-workspace/log returns every API request it received, in order, and
// every error the fake workspace raised (for example a request no handler serves).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/databricks/cli/libs/testserver"
)

// recorded is one API request as the fake workspace received it.
type recorded struct {
	Method string          `json:"method"`
	Path   string          `json:"path"`
	Query  string          `json:"query,omitempty"`
	Body   json.RawMessage `json:"body,omitempty"`
	Bytes  int             `json:"bytes"`
}

// host satisfies the small testing interface testserver.New takes, for a process that is not a Go test:
// failures are recorded (and served in the log) instead of failing a test.
type host struct {
	ctx      context.Context
	mu       sync.Mutex
	errors   []string
	requests []recorded
	cleanups []func()
}

func (h *host) Log(args ...any)                 { fmt.Fprintln(os.Stderr, args...) }
func (h *host) Logf(format string, args ...any) { fmt.Fprintf(os.Stderr, format+"\n", args...) }
func (h *host) Error(args ...any)               { h.fail(fmt.Sprint(args...)) }
func (h *host) Errorf(format string, args ...any) {
	h.fail(fmt.Sprintf(format, args...))
}
func (h *host) Fatal(args ...any) { h.fail(fmt.Sprint(args...)); panic(http.ErrAbortHandler) }
func (h *host) Fatalf(format string, args ...any) {
	h.Errorf(format, args...)
	panic(http.ErrAbortHandler)
}
func (h *host) Skip(args ...any)                 { h.Fatal(args...) }
func (h *host) Skipf(format string, args ...any) { h.Fatalf(format, args...) }
func (h *host) FailNow()                         { h.Fatal("FailNow") }
func (h *host) Cleanup(f func())                 { h.mu.Lock(); h.cleanups = append(h.cleanups, f); h.mu.Unlock() }
func (h *host) Context() context.Context         { return h.ctx }
func (h *host) Setenv(key, value string)         { _ = os.Setenv(key, value) }
func (h *host) Helper()                          {}

func (h *host) TempDir() string {
	dir, err := os.MkdirTemp("", "fakeworkspace-")
	if err != nil {
		h.Fatal(err)
	}
	h.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

func (h *host) fail(message string) {
	fmt.Fprintln(os.Stderr, "fakeworkspace error:", message)
	h.mu.Lock()
	h.errors = append(h.errors, message)
	h.mu.Unlock()
}

func (h *host) record(request *testserver.Request) {
	entry := recorded{Method: request.Method, Path: request.URL.Path, Query: request.URL.RawQuery, Bytes: len(request.Body)}
	if json.Valid(request.Body) {
		entry.Body = append(json.RawMessage(nil), request.Body...)
	}
	h.mu.Lock()
	h.requests = append(h.requests, entry)
	h.mu.Unlock()
}

func (h *host) serveLog(w http.ResponseWriter, _ *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"requests": h.requests, "errors": h.errors})
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &host{ctx: ctx}

	server := testserver.New(h) // httptest: listens on 127.0.0.1, a free port
	testserver.AddDefaultHandlers(server)
	server.RequestCallback = h.record
	server.Router.HandleFunc("/fake-workspace/log", h.serveLog).Methods("GET")

	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(out, server.URL)
	_ = out.Flush()

	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin) // returns when the parent closes stdin or exits
		stop()
	}()
	<-ctx.Done()
	for i := len(h.cleanups) - 1; i >= 0; i-- {
		h.cleanups[i]()
	}
}
