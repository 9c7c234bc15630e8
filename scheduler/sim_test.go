package scheduler_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/scheduler"
)

// sim is an in-memory cluster for scheduler.Decide: agents that start what
// is placed on them, instances whose state the test sets, and a clock.
// Every pass goes through checkPass, so each test also checks the
// invariants.
type sim struct {
	t          testing.TB
	now        time.Time
	grace      time.Duration
	agents     map[string]ufop.Agent // live (announced)
	ufops      map[string]ufop.UFOP  // registered
	versions   map[scheduler.VersionKey]ufop.Version
	placements map[string]ufop.Placement // by ID
	instances  map[string]ufop.Instance  // by placement ID
	seq        int
	errs       []error // of the last pass
}

func newSim(t testing.TB) *sim {
	return &sim{t: t, now: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC), grace: time.Minute,
		agents: map[string]ufop.Agent{}, ufops: map[string]ufop.UFOP{},
		versions:   map[scheduler.VersionKey]ufop.Version{},
		placements: map[string]ufop.Placement{}, instances: map[string]ufop.Instance{}}
}

func (s *sim) agent(id string, slots int) { s.agents[id] = ufop.Agent{ID: id, Slots: slots} }

// lose takes an agent away: it leaves the registry and its lease-held
// instance reports vanish; its placements stay until the scheduler acts.
func (s *sim) lose(id string) {
	delete(s.agents, id)
	for pid, in := range s.instances {
		if in.Agent == id {
			delete(s.instances, pid)
		}
	}
}

const simManifest = `{"image":"scratch","run":["./h"],"health_check":{"path":"/health","timeout":"3s"},"concurrency":2,"timeout":"30s","resources":{"cpu":0.5,"memory":134217728,"pids":64}}`

// built adds a built version of a UFOP to the catalog.
func (s *sim) built(name string, n int) {
	s.versions[scheduler.VersionKey{UFOP: name, Version: n}] = ufop.Version{UFOP: name, N: n, State: ufop.BuildOK,
		Image: fmt.Sprintf("ufop/%s:v%d", name, n), Manifest: json.RawMessage(simManifest)}
}

// register registers u with its Version and Rollout built.
func (s *sim) register(u ufop.UFOP) {
	s.ufops[u.Name] = u
	for _, n := range []int{u.Version, u.Rollout} {
		if n > 0 {
			s.built(u.Name, n)
		}
	}
}

// update changes a registered UFOP (nothing if it is not).
func (s *sim) update(name string, fn func(u *ufop.UFOP)) {
	u, ok := s.ufops[name]
	if !ok {
		return
	}
	fn(&u)
	s.register(u)
}

// add puts a placement in place directly (a state left by an earlier
// leader); state "" means its agent has not reported it.
func (s *sim) add(name string, version int, agent string, state ufop.InstanceState, age time.Duration) string {
	s.seq++
	p := ufop.Placement{ID: fmt.Sprintf("%s-%d", name, s.seq), UFOP: name, Version: version, Agent: agent,
		Created: s.now.Add(-age)}
	s.placements[p.ID] = p
	if state != "" {
		s.instances[p.ID] = ufop.Instance{ID: p.ID, UFOP: name, Version: version, Agent: agent, State: state}
	}
	return p.ID
}

func (s *sim) set(id string, state ufop.InstanceState) {
	in := s.instances[id]
	in.State = state
	s.instances[id] = in
}

// startAll makes every starting or not yet reported instance on a live
// agent healthy.
func (s *sim) startAll() {
	for id, p := range s.placements {
		if _, live := s.agents[p.Agent]; !live {
			continue
		}
		if in, ok := s.instances[id]; !ok || in.State == ufop.InstanceStarting {
			s.instances[id] = ufop.Instance{ID: id, UFOP: p.UFOP, Version: p.Version, Agent: p.Agent,
				State: ufop.InstanceHealthy}
		}
	}
}

func (s *sim) snapshot() scheduler.Snapshot {
	snap := scheduler.Snapshot{Now: s.now, StartGrace: s.grace, Versions: maps.Clone(s.versions),
		Instances: maps.Clone(s.instances)}
	for _, id := range slices.Sorted(maps.Keys(s.agents)) {
		snap.Agents = append(snap.Agents, s.agents[id])
	}
	for _, name := range slices.Sorted(maps.Keys(s.ufops)) {
		snap.UFOPs = append(snap.UFOPs, s.ufops[name])
	}
	for _, id := range slices.Sorted(maps.Keys(s.placements)) {
		snap.Placements = append(snap.Placements, s.placements[id])
	}
	return snap
}

// pass decides, checks and applies one reconcile pass and returns its
// actions.
func (s *sim) pass() []scheduler.Action {
	s.t.Helper()
	snap := s.snapshot()
	acts, errs := scheduler.Decide(snap)
	checkPass(s.t, snap, acts)
	s.errs = errs
	for _, a := range acts {
		p := a.Placement
		switch a.Kind {
		case scheduler.ActPlace:
			s.seq++
			p.ID = fmt.Sprintf("%s-%d", p.UFOP, s.seq)
			s.placements[p.ID] = p
			// The agent starts it.
			s.instances[p.ID] = ufop.Instance{ID: p.ID, UFOP: p.UFOP, Version: p.Version, Agent: p.Agent,
				State: ufop.InstanceStarting}
		case scheduler.ActRemove:
			delete(s.placements, p.ID)
			delete(s.instances, p.ID)
		}
	}
	return acts
}

// settle runs passes, every instance on a live agent turning healthy
// before each, until a pass changes nothing (false if it never does).
func (s *sim) settle() bool {
	s.t.Helper()
	for range 100 {
		s.startAll()
		if len(s.pass()) == 0 {
			return true
		}
		s.now = s.now.Add(time.Second)
	}
	return false
}

// of lists the placements of a UFOP.
func (s *sim) of(name string) []ufop.Placement {
	var out []ufop.Placement
	for _, id := range slices.Sorted(maps.Keys(s.placements)) {
		if p := s.placements[id]; p.UFOP == name {
			out = append(out, p)
		}
	}
	return out
}

// count counts a UFOP's placements by version and healthiness.
func (s *sim) count(name string) (total, healthy int, byVersion map[int]int) {
	byVersion = map[int]int{}
	for _, p := range s.of(name) {
		total++
		byVersion[p.Version]++
		if s.instances[p.ID].State == ufop.InstanceHealthy {
			healthy++
		}
	}
	return total, healthy, byVersion
}

func (s *sim) perAgent() map[string]int {
	out := map[string]int{}
	for _, p := range s.placements {
		out[p.Agent]++
	}
	return out
}

// checkPass checks the invariants of one Decide pass: from the snapshot
// and the actions alone, so it holds for any state the harness reaches.
func checkPass(t testing.TB, snap scheduler.Snapshot, acts []scheduler.Action) {
	t.Helper()
	agents := map[string]ufop.Agent{}
	for _, a := range snap.Agents {
		if a.Slots > 0 {
			agents[a.ID] = a
		}
	}
	ufops := map[string]ufop.UFOP{}
	for _, u := range snap.UFOPs {
		ufops[u.Name] = u
	}
	healthy := func(p ufop.Placement) bool { return snap.Instances[p.ID].State == ufop.InstanceHealthy }
	// live: on a live agent, of a registered UFOP, not failed.
	live := func(p ufop.Placement) bool {
		_, onAgent := agents[p.Agent]
		_, registered := ufops[p.UFOP]
		in, reported := snap.Instances[p.ID]
		return onAgent && registered && !(reported && in.State == ufop.InstanceFailed)
	}

	after := map[string]ufop.Placement{}
	for _, p := range snap.Placements {
		after[p.ID] = p
	}
	placed := map[string]int{}  // by UFOP
	gotNew := map[string]bool{} // agents given a placement
	var added []ufop.Placement  // new ones have no ID
	for _, a := range acts {
		p := a.Placement
		switch a.Kind {
		case scheduler.ActRemove:
			if _, ok := after[p.ID]; !ok {
				t.Fatalf("removes %q, which is not (or no longer) placed", p.ID)
			}
			delete(after, p.ID)
		case scheduler.ActPlace:
			if p.ID != "" {
				t.Fatalf("a new placement has ID %q", p.ID)
			}
			if _, ok := agents[p.Agent]; !ok {
				t.Fatalf("places %s on %q, not a live agent with slots", p.UFOP, p.Agent)
			}
			u, ok := ufops[p.UFOP]
			if !ok {
				t.Fatalf("places unregistered %s", p.UFOP)
			}
			if p.Version != u.Version && p.Version != u.Rollout {
				t.Fatalf("places %s v%d, neither its version %d nor rollout %d", p.UFOP, p.Version, u.Version, u.Rollout)
			}
			if !p.Created.Equal(snap.Now) {
				t.Fatalf("placement created %v, not now", p.Created)
			}
			placed[p.UFOP]++
			gotNew[p.Agent] = true
			added = append(added, p)
		default:
			t.Fatalf("action kind %d", a.Kind)
		}
	}
	all := append(slices.Collect(maps.Values(after)), added...)

	perAgent := map[string]int{}
	for _, p := range all {
		perAgent[p.Agent]++
		if !live(p) && p.ID != "" {
			t.Fatalf("placement %s (agent %q) left though its agent is lost, its UFOP unregistered or it failed", p.ID, p.Agent)
		}
	}
	for id := range gotNew {
		if perAgent[id] > agents[id].Slots {
			t.Fatalf("agent %s given a placement over its %d slots (%d)", id, agents[id].Slots, perAgent[id])
		}
	}

	for _, u := range snap.UFOPs {
		want := scheduler.Want(u)
		step := max(u.Step, 1)
		var hBefore, hOldBefore, hNewBefore, pendingBefore int
		upgrading := false
		for _, p := range snap.Placements {
			if p.UFOP != u.Name || !live(p) {
				continue
			}
			old := p.Version < u.Rollout
			upgrading = upgrading || old
			switch {
			case healthy(p) && old:
				hBefore++
				hOldBefore++
			case healthy(p):
				hBefore++
				hNewBefore++
			case !old && snap.Now.Sub(p.Created) < snap.StartGrace:
				pendingBefore++
			}
		}
		var total, hAfter, hOldAfter, stuck int
		for _, p := range all {
			if p.UFOP != u.Name {
				continue
			}
			total++
			if p.ID != "" && healthy(p) {
				hAfter++
				if p.Version < u.Rollout {
					hOldAfter++
				}
			}
			if p.ID != "" && p.Version >= u.Rollout && !healthy(p) && snap.Now.Sub(p.Created) >= snap.StartGrace {
				stuck++
			}
		}
		// Healthy capacity never drops below what is wanted: only
		// unhealthy instances, or healthy ones beyond want, are stopped.
		if want > 0 && hAfter < min(hBefore, want) {
			t.Fatalf("%s: %d healthy after the pass, %d before, want %d", u.Name, hAfter, hBefore, want)
		}
		if want > 0 && hOldBefore > 0 && hNewBefore == 0 && hOldAfter == 0 {
			t.Fatalf("%s: stopped the last healthy old instance before a new one was healthy", u.Name)
		}
		// Starting instances never exceed desired + step; those that did
		// not turn healthy within StartGrace no longer hold the upgrade.
		if placed[u.Name] > 0 && total > want+step+stuck {
			t.Fatalf("%s: %d placements after placing, want %d + step %d (+%d stuck)", u.Name, total, want, step, stuck)
		}
		if upgrading && pendingBefore+placed[u.Name] > max(step, pendingBefore) {
			t.Fatalf("%s: %d starting + %d placed in an upgrade of step %d", u.Name, pendingBefore, placed[u.Name], step)
		}
	}
}
