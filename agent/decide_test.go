package agent

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func placement(id string, version int) ufop.Placement {
	return ufop.Placement{ID: id, UFOP: "thumb", Version: version, Agent: "a1", Spec: ufop.InstanceSpec{Concurrency: 2}}
}

func desired(ps ...ufop.Placement) map[string]ufop.Placement {
	m := map[string]ufop.Placement{}
	for _, p := range ps {
		m[p.ID] = p
	}
	return m
}

// healthy is a running instance of thumb taking work.
func healthy(id string, version, inflight int) instView {
	return instView{ID: id, UFOP: "thumb", Version: version, State: ufop.InstanceHealthy,
		Inflight: inflight, Concurrency: 2, Running: true}
}

func with(in instView, f func(*instView)) instView { f(&in); return in }

func TestDecide(t *testing.T) {
	draining := func(in *instView) {
		in.Retiring, in.DrainSince, in.State = true, t0.Add(-time.Second), ufop.InstanceStopping
	}
	dead := func(in *instView) { in.Dead = true }
	tests := []struct {
		name    string
		desired map[string]ufop.Placement
		insts   []instView
		want    []action
	}{
		{"steady state", desired(placement("p1", 1)), []instView{healthy("p1", 1, 1)}, nil},
		{"new placement starts", desired(placement("p1", 1), placement("p2", 1)), []instView{healthy("p1", 1, 0)},
			[]action{{Kind: actStart, ID: "p2", Placement: placement("p2", 1)}}},
		{"starts in ID order", desired(placement("p3", 1), placement("p1", 1), placement("p2", 1)), nil,
			[]action{{Kind: actStart, ID: "p1", Placement: placement("p1", 1)}, {Kind: actStart, ID: "p2", Placement: placement("p2", 1)},
				{Kind: actStart, ID: "p3", Placement: placement("p3", 1)}}},
		{"placement removed with jobs in flight: drain", desired(), []instView{healthy("p1", 1, 2)},
			[]action{{Kind: actDrain, ID: "p1", Why: whyRemoved}}},
		{"draining with jobs in flight: wait", desired(), []instView{with(healthy("p1", 1, 2), draining)}, nil},
		{"draining with jobs queued: wait", desired(), []instView{with(healthy("p1", 1, 0), func(in *instView) { draining(in); in.Queued = 1 })}, nil},
		{"drained: stop", desired(), []instView{with(healthy("p1", 1, 0), draining)},
			[]action{{Kind: actStop, ID: "p1", Why: whyDrained}}},
		{"drain timed out: stop anyway", desired(), []instView{with(healthy("p1", 1, 1), func(in *instView) {
			draining(in)
			in.DrainSince = t0.Add(-30 * time.Second)
		})}, []action{{Kind: actStop, ID: "p1", Why: whyDrainTimeout}}},
		{"retired while starting: forget it", desired(), []instView{{ID: "p1", UFOP: "thumb", Version: 1, State: ufop.InstanceStarting, Concurrency: 2, Launching: true}},
			[]action{{Kind: actDrain, ID: "p1", Why: whyRemoved}}},
		{"dies mid-job: restart", desired(placement("p1", 1)), []instView{with(healthy("p1", 1, 2), dead)},
			[]action{{Kind: actRestart, ID: "p1"}}},
		{"dies once too often: failed", desired(placement("p1", 1)), []instView{with(healthy("p1", 1, 1), func(in *instView) { in.Dead, in.Restarts = true, 5 })},
			[]action{{Kind: actFail, ID: "p1"}}},
		{"dies while draining: stop now", desired(), []instView{with(healthy("p1", 1, 2), func(in *instView) { draining(in); in.Dead = true })},
			[]action{{Kind: actStop, ID: "p1", Why: whyDiedRetiring}}},
		{"failed stays until the scheduler removes it", desired(placement("p1", 1)),
			[]instView{{ID: "p1", UFOP: "thumb", Version: 1, State: ufop.InstanceFailed, Concurrency: 2, Restarts: 5}}, nil},
		{"failed start, retry not due", desired(placement("p1", 1)),
			[]instView{{ID: "p1", UFOP: "thumb", Version: 1, State: ufop.InstanceStarting, Concurrency: 2, Restarts: 1, RetryAt: t0.Add(time.Millisecond)}}, nil},
		{"failed start, retry due", desired(placement("p1", 1)),
			[]instView{{ID: "p1", UFOP: "thumb", Version: 1, State: ufop.InstanceStarting, Concurrency: 2, Restarts: 1, RetryAt: t0}},
			[]action{{Kind: actLaunch, ID: "p1"}}},
		{"launching: wait", desired(placement("p1", 1)),
			[]instView{{ID: "p1", UFOP: "thumb", Version: 1, State: ufop.InstanceStarting, Concurrency: 2, Launching: true}}, nil},
		{"upgrade: new placement starts beside the old", desired(placement("old", 1), placement("new", 2)), []instView{healthy("old", 1, 1)},
			[]action{{Kind: actStart, ID: "new", Placement: placement("new", 2)}}},
		{"upgrade: new healthy, old removed: old drains", desired(placement("new", 2)), []instView{healthy("old", 1, 1), healthy("new", 2, 0)},
			[]action{{Kind: actDrain, ID: "old", Why: whyRemoved}}},
		{"version changed under the same ID: drain, then start", desired(placement("p1", 2)), []instView{healthy("p1", 1, 0)},
			[]action{{Kind: actDrain, ID: "p1", Why: whyVersionChanged}}},
		{"placement back after its instance stopped: start", desired(placement("p1", 2)), nil,
			[]action{{Kind: actStart, ID: "p1", Placement: placement("p1", 2)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := agentSnapshot{Now: t0, Desired: tt.desired, Instances: tt.insts, DrainTimeout: 30 * time.Second, MaxRestarts: 5}
			got := decide(s)
			if !slices.EqualFunc(got, tt.want, actionEqual) {
				t.Fatalf("decide = %v\nwant %v", got, tt.want)
			}
		})
	}
}

func actionEqual(a, b action) bool {
	return a.Kind == b.Kind && a.ID == b.ID && a.Why == b.Why && a.Placement.ID == b.Placement.ID && a.Placement.Version == b.Placement.Version
}

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		insts   []instView
		exclude string
		id      string // "" when none
		free    bool
	}{
		{"least in flight", []instView{healthy("a", 1, 1), healthy("b", 1, 0), healthy("c", 1, 2)}, "", "b", true},
		{"ties: newer version first", []instView{healthy("a", 1, 1), healthy("b", 2, 1)}, "", "b", true},
		{"ties: then the ID", []instView{healthy("c", 1, 0), healthy("a", 1, 0), healthy("b", 1, 0)}, "", "a", true},
		{"full one skipped for a free one", []instView{with(healthy("a", 1, 1), func(in *instView) { in.Concurrency = 1 }), healthy("b", 1, 1)}, "", "b", true},
		{"concurrency full: busy, least loaded", []instView{with(healthy("a", 1, 2), func(in *instView) { in.Queued = 3 }), with(healthy("b", 1, 2), func(in *instView) { in.Queued = 1 })}, "", "b", false},
		{"unhealthy never picked", []instView{
			{ID: "a", UFOP: "thumb", Version: 1, State: ufop.InstanceStarting, Concurrency: 2},
			{ID: "b", UFOP: "thumb", Version: 1, State: ufop.InstanceFailed, Concurrency: 2},
			{ID: "c", UFOP: "thumb", Version: 1, State: ufop.InstanceStopping, Concurrency: 2, Running: true},
			with(healthy("d", 1, 0), func(in *instView) { in.Retiring = true }),
			with(healthy("e", 1, 0), func(in *instView) { in.Dead = true }),
		}, "", "", false},
		{"dies mid-job: the other", []instView{with(healthy("a", 1, 0), func(in *instView) { in.Dead = true }), healthy("b", 1, 1)}, "", "b", true},
		{"the instance that failed the call is skipped", []instView{healthy("a", 1, 0), healthy("b", 1, 1)}, "a", "b", true},
		{"only the failed one", []instView{healthy("a", 1, 0)}, "a", "", false},
		{"other UFOPs ignored", []instView{with(healthy("a", 1, 0), func(in *instView) { in.UFOP = "blur" })}, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, free, ok := pick(tt.insts, "thumb", tt.exclude)
			if id != tt.id || free != tt.free || ok != (tt.id != "") {
				t.Fatalf("pick = %q, free %v, ok %v; want %q, free %v", id, free, ok, tt.id, tt.free)
			}
			// The order of the instances does not matter.
			rev := slices.Clone(tt.insts)
			slices.Reverse(rev)
			if id2, free2, _ := pick(rev, "thumb", tt.exclude); id2 != id || free2 != free {
				t.Fatalf("reversed: pick = %q, free %v; want %q, free %v", id2, free2, id, free)
			}
		})
	}
}

func TestCapacityOf(t *testing.T) {
	insts := []instView{healthy("a", 1, 2), healthy("b", 2, 0),
		with(healthy("c", 1, 0), func(in *instView) { in.Retiring = true }),
		{ID: "d", UFOP: "thumb", State: ufop.InstanceStarting, Concurrency: 2},
		with(healthy("e", 1, 0), func(in *instView) { in.UFOP = "blur" })}
	if got := capacityOf(insts, "thumb"); got != 4 {
		t.Fatalf("capacity %d, want 4 (two healthy instances of concurrency 2)", got)
	}
}

// snapshotFrom builds a snapshot from fuzz bytes: 5 bytes an instance.
func snapshotFrom(data []byte, now int64) agentSnapshot {
	states := []ufop.InstanceState{ufop.InstanceStarting, ufop.InstanceHealthy, ufop.InstanceStopping, ufop.InstanceFailed}
	s := agentSnapshot{Now: t0.Add(time.Duration(now%int64(time.Minute)) * time.Nanosecond), Desired: map[string]ufop.Placement{},
		DrainTimeout: 30 * time.Second, MaxRestarts: 5}
	for i := 0; i+5 <= len(data) && i < 5*40; i += 5 {
		b := data[i : i+5]
		id := string(rune('a' + i/5))
		name := []string{"thumb", "blur"}[b[0]&1]
		version := int(b[0]>>1&3) + 1
		if b[0]&0x40 != 0 || b[0]&0x80 != 0 && b[1]&0x80 != 0 {
			// Desired; its version sometimes differs from the instance's.
			s.Desired[id] = ufop.Placement{ID: id, UFOP: name, Version: version + int(b[4]>>7)}
		}
		if b[0]&0x80 == 0 {
			continue // no instance for this ID
		}
		in := instView{ID: id, UFOP: name, Version: version, State: states[b[1]&3],
			Concurrency: int(b[1]>>2&3) + 1, Inflight: int(b[2] & 7), Queued: int(b[2] >> 3 & 3),
			Restarts: int(b[3] & 7), Running: b[3]&8 != 0, Launching: b[3]&16 != 0, Retiring: b[3]&32 != 0,
			Dead: b[3]&64 != 0, DrainSince: s.Now.Add(-time.Duration(b[4]&63) * time.Second),
			RetryAt: s.Now.Add(time.Duration(int(b[4]&3)-1) * time.Second)}
		in.Inflight = min(in.Inflight, in.Concurrency) // slots bound the requests in flight
		s.Instances = append(s.Instances, in)
	}
	return s
}

func FuzzDecide(f *testing.F) {
	f.Add([]byte{0xc2, 0x01, 0x01, 0x08, 0x00}, int64(0))
	f.Add([]byte{0x80, 0x05, 0x02, 0x28, 0x1f, 0xc0, 0x01, 0x00, 0x48, 0x3f, 0x40, 0, 0, 0, 0}, int64(7))
	f.Add([]byte{0xc1, 0x0d, 0x13, 0x4d, 0x80, 0xc3, 0x01, 0x04, 0x08, 0x01, 0x83, 0x01, 0x00, 0x08, 0x00}, int64(99))
	f.Fuzz(func(t *testing.T, data []byte, now int64) {
		s := snapshotFrom(data, now)
		acts := decide(s)
		insts := map[string]instView{}
		for _, in := range s.Instances {
			insts[in.ID] = in
		}
		seen := map[string]bool{}
		for _, a := range acts {
			if seen[a.ID] {
				t.Fatalf("two actions for %s: %v", a.ID, acts)
			}
			seen[a.ID] = true
			in, has := insts[a.ID]
			if a.Kind == actStart {
				if has {
					t.Fatalf("start of %s, which has an instance: %+v", a.ID, in)
				}
				if _, ok := s.Desired[a.ID]; !ok {
					t.Fatalf("start of %s, not desired", a.ID)
				}
				continue
			}
			if !has {
				t.Fatalf("%v of unknown instance %s", a.Kind, a.ID)
			}
			switch a.Kind {
			case actStop:
				if !in.Retiring && !in.Dead {
					t.Fatalf("stop without a drain: %+v", in)
				}
				timedOut := in.Retiring && !s.Now.Before(in.DrainSince.Add(s.DrainTimeout))
				if in.Inflight+in.Queued > 0 && !in.Dead && !timedOut {
					t.Fatalf("stop of an instance with jobs in flight, alive, drain not timed out: %+v", in)
				}
			case actRestart, actFail:
				if !in.Dead || in.Retiring {
					t.Fatalf("%v of %+v", a.Kind, in)
				}
			case actDrain:
				if in.Retiring {
					t.Fatalf("drain of a draining instance: %+v", in)
				}
				if p, ok := s.Desired[a.ID]; ok && p.Version == in.Version {
					t.Fatalf("drain of a desired instance: %+v", in)
				}
			case actLaunch:
				if in.Running || in.Launching || in.Retiring || in.State == ufop.InstanceFailed {
					t.Fatalf("launch of %+v", in)
				}
			}
		}
		for id := range s.Desired {
			if _, has := insts[id]; !has && !seen[id] {
				t.Fatalf("desired %s without an instance and no start: %v", id, acts)
			}
		}
		// Alive instances not desired (at their version) are drained.
		for _, in := range s.Instances {
			if p, ok := s.Desired[in.ID]; (!ok || p.Version != in.Version) && !in.Retiring && !in.Dead && !seen[in.ID] {
				t.Fatalf("unwanted %+v not drained: %v", in, acts)
			}
		}
		// The order of the instances does not matter.
		shuffled := slices.Clone(s.Instances)
		r := rand.New(rand.NewPCG(uint64(now), 1))
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		s2 := s
		s2.Instances = shuffled
		if again := decide(s2); !slices.EqualFunc(again, acts, actionEqual) {
			t.Fatalf("decide depends on the instances' order: %v, then %v", acts, again)
		}

		for _, name := range []string{"thumb", "blur"} {
			var exclude string
			if len(s.Instances) > 0 && now%2 == 0 {
				exclude = s.Instances[0].ID
			}
			id, free, ok := pick(s.Instances, name, exclude)
			var cands []instView
			for _, in := range s.Instances {
				if in.UFOP == name && in.State == ufop.InstanceHealthy && !in.Retiring && !in.Dead && in.ID != exclude {
					cands = append(cands, in)
				}
			}
			if !ok {
				if len(cands) > 0 {
					t.Fatalf("no pick of %s among %+v", name, cands)
				}
				continue
			}
			got, found := insts[id]
			if !found || got.ID == exclude || !slices.ContainsFunc(cands, func(in instView) bool { return in.ID == id }) {
				t.Fatalf("picked %s: %+v, not a healthy, undrained, live instance of %s", id, got, name)
			}
			for _, c := range cands {
				full := c.Inflight >= c.Concurrency
				if free && !full && c.Inflight+c.Queued < got.Inflight+got.Queued {
					t.Fatalf("picked %+v over the less loaded %+v", got, c)
				}
				if !free && !full {
					t.Fatalf("busy, yet %+v has a free slot", c)
				}
				if !free && c.Inflight+c.Queued < got.Inflight+got.Queued {
					t.Fatalf("queued behind %+v, not the least loaded %+v", got, c)
				}
			}
			if free && got.Inflight >= got.Concurrency {
				t.Fatalf("picked %+v, at its concurrency", got)
			}
		}
	})
}
