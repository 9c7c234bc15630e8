package agent

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/internal/testenv"
)

// newTestUfops is a ufops with instances served by handlers, no runtime:
// the invoke path alone (issue 15 point 1 off the queue).
func newTestUfops(t *testing.T, handlers ...http.HandlerFunc) (*ufops, []*instance) {
	t.Helper()
	a := &Agent{cfg: DefaultConfig(), logger: testenv.Logger(t)}
	u := newUfops(a, nil, "/test/")
	var ins []*instance
	for i, h := range handlers {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		in := &instance{p: ufop.Placement{ID: string(rune('a' + i)), UFOP: "crashy", Version: 1}, slots: make(chan struct{}, 1),
			state: ufop.InstanceHealthy, addr: srv.URL, gone: make(chan struct{})}
		u.insts[in.p.ID] = in
		ins = append(ins, in)
	}
	return u, ins
}

// die answers nothing: it drops the connection, as a process that exits
// mid-request does.
func die(w http.ResponseWriter, r *http.Request) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err == nil {
		conn.Close()
	}
}

func echo(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }

func TestInvokeInstanceDeath(t *testing.T) {
	tests := []struct {
		name     string
		handlers []http.HandlerFunc
		want     string // "" for the 502 of a dead instance
		retried  bool   // the 502 came after the one more try
	}{
		{"alone, dies", []http.HandlerFunc{die}, "", false},
		{"dies, the other answers", []http.HandlerFunc{die, echo}, "ok", false},
		{"both die", []http.HandlerFunc{die, die}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, _ := newTestUfops(t, tt.handlers...)
			// The dying instance is the one picked first: fill the others.
			for _, in := range u.insts {
				if in.p.ID != "a" {
					in.queued.Add(1)
				}
			}
			ctx := context.Background()
			out, _, _, err := u.invoke(ctx, "crashy", "", []byte("x"), "text/plain", ufop.Source{}, "r")
			if tt.want != "" {
				if err != nil || string(out) != tt.want {
					t.Fatalf("invoke = %q, %v; want %q", out, err, tt.want)
				}
				return
			}
			if !errors.Is(err, errInstanceDied) || ufop.KindOf(err) != ufop.KindUpstream {
				t.Fatalf("invoke error %v (kind %v), want an instance death, 502", err, ufop.KindOf(err))
			}
			// The queue hands back only a job that had no other try.
			if got := errors.Is(err, errRetried); got != tt.retried {
				t.Errorf("retried mark %v, want %v", got, tt.retried)
			}
		})
	}
}

// A death the engine reports cancels the call in flight at once, however
// long the instance would have held it.
func TestInvokeCanceledByDeathEvent(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	u, ins := newTestUfops(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	errc := make(chan error, 1)
	go func() {
		_, _, _, err := u.invoke(context.Background(), "crashy", "", nil, "", ufop.Source{}, "r")
		errc <- err
	}()
	// The request is in flight once its slot is taken.
	deadline := time.Now().Add(10 * time.Second)
	for len(ins[0].slots) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	ins[0].mu.Lock()
	close(ins[0].gone)
	ins[0].gone = nil
	ins[0].state = ufop.InstanceStarting
	ins[0].mu.Unlock()
	select {
	case err := <-errc:
		if !errors.Is(err, errInstanceDied) || ufop.KindOf(err) != ufop.KindUpstream {
			t.Fatalf("invoke error %v (kind %v), want an instance death, 502", err, ufop.KindOf(err))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the call outlived its instance's death by 10s")
	}
}
