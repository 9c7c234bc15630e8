package scheduler_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

// bytesrc reads small numbers from fuzz input; past its end it gives 0.
type bytesrc struct {
	b []byte
	i int
}

func (r *bytesrc) n(k int) int {
	if r.i >= len(r.b) {
		return 0
	}
	r.i++
	return int(r.b[r.i-1]) % k
}

func (r *bytesrc) done() bool { return r.i >= len(r.b) }

// FuzzDecide runs a random cluster through random events (host loss, new
// agents, instances turning healthy or failing, time passing, resizes,
// upgrades, unregistering) with reconcile passes in between. checkPass
// checks every pass: every placement on a live agent within its slots, no
// more than desired + step starting, healthy capacity never dropped (so
// the last healthy old instance stays until a new one is healthy). At the
// end, with slots enough for every UFOP's desired count plus its step, the
// cluster must converge to exactly the desired instances, all healthy, all
// at the rollout version.
func FuzzDecide(f *testing.F) {
	f.Add([]byte{3, 4, 4, 4, 2, 3, 1, 0, 4, 2, 1, 2, 2, 1, 6, 0, 7, 8, 7, 8, 7, 0, 7, 8, 7})
	f.Add([]byte{2, 2, 1, 1, 5, 2, 1, 1, 9, 1, 2, 3, 3, 7, 5, 1, 7, 4, 7, 3, 7, 8, 7})
	f.Add([]byte{0, 1, 3, 1, 2, 0, 7, 1, 4, 7, 8, 7})
	f.Fuzz(runCluster)
}

// runCluster is FuzzDecide's body: data sets up a cluster and its events.
func runCluster(t *testing.T, data []byte) {
	r := &bytesrc{b: data}
	s := newSim(t)
	agents := 0
	newAgent := func() {
		agents++
		s.agent(fmt.Sprintf("a%d", agents), r.n(5))
	}
	for range r.n(5) {
		newAgent()
	}
	names := []string{"ufop-a", "ufop-b", "ufop-c"}[:1+r.n(3)]
	versionOf := map[string]int{}
	for _, name := range names {
		v := 1 + r.n(3)
		versionOf[name] = v
		for n := 1; n <= v; n++ {
			s.built(name, n)
		}
		s.register(ufop.UFOP{Name: name, Version: v, Rollout: r.n(v + 1), Step: r.n(3), Instances: r.n(5)})
	}
	// Placements an earlier leader left: on live or lost agents, of
	// any version, in any state, of any age.
	states := []ufop.InstanceState{"", ufop.InstanceStarting, ufop.InstanceHealthy, ufop.InstanceFailed}
	for range r.n(8) {
		name := names[r.n(len(names))]
		s.add(name, 1+r.n(versionOf[name]), fmt.Sprintf("a%d", 1+r.n(agents+1)), states[r.n(len(states))],
			time.Duration(r.n(4))*s.grace/2)
	}

	pick := func() (ufop.Instance, bool) {
		ids := s.of(names[r.n(len(names))])
		if len(ids) == 0 {
			return ufop.Instance{}, false
		}
		in, ok := s.instances[ids[r.n(len(ids))].ID]
		return in, ok
	}
	for events := 0; !r.done() && events < 300; events++ {
		switch r.n(10) {
		case 0: // host loss
			if agents > 0 {
				s.lose(fmt.Sprintf("a%d", 1+r.n(agents)))
			}
		case 1:
			newAgent()
		case 2:
			if in, ok := pick(); ok {
				s.set(in.ID, ufop.InstanceHealthy)
			}
		case 3:
			if in, ok := pick(); ok {
				s.set(in.ID, ufop.InstanceFailed)
			}
		case 4:
			s.now = s.now.Add(s.grace / 2)
		case 5: // resize
			s.update(names[r.n(len(names))], func(u *ufop.UFOP) { u.Instances = r.n(6) })
		case 6: // upgrade to a new version
			name := names[r.n(len(names))]
			versionOf[name]++
			v := versionOf[name]
			s.update(name, func(u *ufop.UFOP) { u.Version, u.Rollout, u.Step = v, v, r.n(4) })
		case 7:
			s.pass()
		case 8:
			s.startAll()
		case 9: // unregister, or register again
			name := names[r.n(len(names))]
			if _, ok := s.ufops[name]; ok {
				delete(s.ufops, name)
			} else {
				s.register(ufop.UFOP{Name: name, Version: versionOf[name], Rollout: versionOf[name], Instances: r.n(5)})
			}
		}
	}

	// Convergence, when the live agents have room for every UFOP's
	// desired count plus one upgrade step.
	slots, need := 0, 0
	for _, a := range s.agents {
		slots += a.Slots
	}
	for _, u := range s.ufops {
		need += max(u.Instances, 0) + max(u.Step, 1)
	}
	if slots < need {
		return
	}
	if !s.settle() {
		t.Fatalf("no fixed point with %d slots for %d needed", slots, need)
	}
	for name, u := range s.ufops {
		total, healthy, byVersion := s.count(name)
		if total != u.Instances || healthy != total {
			t.Fatalf("%s: %d placements, %d healthy, want %d", name, total, healthy, u.Instances)
		}
		for v := range byVersion {
			if v < u.Rollout {
				t.Fatalf("%s: instances of v%d left after the rollout to v%d", name, v, u.Rollout)
			}
		}
	}
	for _, p := range s.placements {
		if _, ok := s.ufops[p.UFOP]; !ok {
			t.Fatalf("placement %s of unregistered %s left", p.ID, p.UFOP)
		}
	}
}
