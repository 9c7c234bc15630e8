package scheduler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/scheduler"
)

// placedOn is the agent of the only place action of acts ("" if none).
func placedOn(t *testing.T, acts []scheduler.Action) string {
	t.Helper()
	agent := ""
	for _, a := range acts {
		if a.Kind == scheduler.ActPlace {
			if agent != "" {
				t.Fatalf("more than one placement: %+v", acts)
			}
			agent = a.Placement.Agent
		}
	}
	return agent
}

func kinds(acts []scheduler.Action) (place, remove int) {
	for _, a := range acts {
		if a.Kind == scheduler.ActPlace {
			place++
		} else {
			remove++
		}
	}
	return place, remove
}

func TestDecide(t *testing.T) {
	u := ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 3}
	tests := []struct {
		name string
		run  func(t *testing.T, s *sim)
	}{
		{"host loss: every instance on the lost agent is replaced on the others in one pass", func(t *testing.T, s *sim) {
			s.agent("a1", 4)
			s.agent("a2", 4)
			s.agent("a3", 4)
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 5})
			if !s.settle() {
				t.Fatal("did not settle")
			}
			lost := "a1" // 5 over 3 agents: a1 (first by ID) holds 2
			if n := s.perAgent()["a1"]; n != 2 {
				t.Fatalf("a1 holds %d, want 2: %v", n, s.perAgent())
			}
			s.lose(lost)
			acts := s.pass()
			if p, r := kinds(acts); p != 2 || r != 2 {
				t.Fatalf("%d placed, %d removed, want 2 and 2: %+v", p, r, acts)
			}
			if n := s.perAgent()[lost]; n != 0 {
				t.Fatalf("%d placements left on the lost agent", n)
			}
			if total, _, _ := s.count("my-ufop"); total != 5 {
				t.Fatalf("%d placements, want 5", total)
			}
		}},
		{"uneven spread: new instances go to the agent with fewest of the UFOP", func(t *testing.T, s *sim) {
			s.agent("a1", 8)
			s.agent("a2", 8)
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 5})
			for range 3 {
				s.add("my-ufop", 1, "a1", ufop.InstanceHealthy, time.Hour)
			}
			s.pass()
			if got := s.perAgent(); got["a1"] != 3 || got["a2"] != 2 {
				t.Fatalf("spread %v, want a1:3 a2:2", got)
			}
		}},
		{"uneven load: a new instance goes to the least loaded agent for its slots", func(t *testing.T, s *sim) {
			s.agent("a1", 8) // 2 of 8 used
			s.agent("a2", 2) // 1 of 2 used
			s.agent("a3", 4) // 3 of 4 used
			s.register(ufop.UFOP{Name: "other", Version: 1, Instances: 6})
			s.add("other", 1, "a1", ufop.InstanceHealthy, time.Hour)
			s.add("other", 1, "a1", ufop.InstanceHealthy, time.Hour)
			s.add("other", 1, "a2", ufop.InstanceHealthy, time.Hour)
			for range 3 {
				s.add("other", 1, "a3", ufop.InstanceHealthy, time.Hour)
			}
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 1})
			if got := placedOn(t, s.pass()); got != "a1" {
				t.Fatalf("placed on %q, want a1", got)
			}
		}},
		{"upgrade step 1: an old instance stops only once its replacement is healthy", func(t *testing.T, s *sim) {
			s.agent("a1", 4)
			s.agent("a2", 4)
			s.register(u)
			s.settle()
			s.update(u.Name, func(u *ufop.UFOP) { u.Version, u.Rollout, u.Step = 2, 2, 1 })
			// expect runs a pass that must place and remove so many, every
			// removal an old instance.
			expect := func(place, remove int) {
				t.Helper()
				acts := s.pass()
				if p, r := kinds(acts); p != place || r != remove {
					t.Fatalf("%d placed, %d removed, want %d and %d: %+v", p, r, place, remove, acts)
				}
				for _, a := range acts {
					if a.Kind == scheduler.ActRemove && (a.Placement.Version != 1 || a.Why != scheduler.WhyUpgraded) {
						t.Fatalf("removed %+v", a)
					}
				}
			}
			expect(1, 0)
			expect(0, 0) // the new one is not healthy yet: the old ones stay
			s.startAll()
			expect(1, 1) // one old stops as the new one is healthy; the next starts
			expect(0, 0)
			s.startAll()
			expect(1, 1)
			expect(0, 0)
			s.startAll()
			expect(0, 1)
			expect(0, 0)
			_, healthy, byVersion := s.count(u.Name)
			if byVersion[1] != 0 || byVersion[2] != 3 || healthy != 3 {
				t.Fatalf("after the upgrade: %v, %d healthy", byVersion, healthy)
			}
		}},
		{"upgrade step 2: two new instances at a time", func(t *testing.T, s *sim) {
			s.agent("a1", 8)
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 5})
			s.settle()
			s.update("my-ufop", func(u *ufop.UFOP) { u.Version, u.Rollout, u.Step = 2, 2, 2 })
			if p, r := kinds(s.pass()); p != 2 || r != 0 {
				t.Fatalf("%d placed, %d removed, want 2 and 0", p, r)
			}
			if !s.settle() {
				t.Fatal("did not settle")
			}
			if total, healthy, byVersion := s.count("my-ufop"); total != 5 || healthy != 5 || byVersion[2] != 5 {
				t.Fatalf("%d placements, %d healthy, %v", total, healthy, byVersion)
			}
		}},
		{"an upgrade stops waiting for a new instance stuck past StartGrace", func(t *testing.T, s *sim) {
			s.agent("a1", 8)
			s.register(u)
			s.settle()
			s.update(u.Name, func(u *ufop.UFOP) { u.Version, u.Rollout, u.Step = 2, 2, 1 })
			s.pass()
			s.now = s.now.Add(s.grace / 2)
			if acts := s.pass(); len(acts) != 0 {
				t.Fatalf("%+v within the grace", acts)
			}
			s.now = s.now.Add(s.grace)
			if p, r := kinds(s.pass()); p != 1 || r != 0 {
				t.Fatalf("%d placed, %d removed past the grace, want 1 and 0", p, r)
			}
		}},
		{"scaling down during an upgrade keeps a healthy instance throughout", func(t *testing.T, s *sim) {
			s.agent("a1", 8)
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 4})
			s.settle()
			s.update("my-ufop", func(u *ufop.UFOP) { u.Version, u.Rollout, u.Step = 2, 2, 2 })
			s.pass() // two new instances start
			s.update("my-ufop", func(u *ufop.UFOP) { u.Instances = 1 })
			s.pass()
			if _, healthy, byVersion := s.count("my-ufop"); healthy != 1 || byVersion[1] != 1 || byVersion[2] != 2 {
				t.Fatalf("%v, %d healthy: want the 2 new starting and 1 healthy old", byVersion, healthy)
			}
			if !s.settle() {
				t.Fatal("did not settle")
			}
			if total, healthy, byVersion := s.count("my-ufop"); total != 1 || healthy != 1 || byVersion[2] != 1 {
				t.Fatalf("%d placements, %d healthy, %v", total, healthy, byVersion)
			}
		}},
		{"capacity: no agent goes over its slots; agents without slots get nothing", func(t *testing.T, s *sim) {
			s.agent("a1", 2)
			s.agent("a2", 1)
			s.agent("nodocker", 0)
			s.register(ufop.UFOP{Name: "my-ufop", Version: 1, Instances: 5})
			if p, _ := kinds(s.pass()); p != 3 {
				t.Fatalf("%d placed, want 3", p)
			}
			if got := s.perAgent(); got["a1"] != 2 || got["a2"] != 1 || got["nodocker"] != 0 {
				t.Fatalf("per agent %v", got)
			}
			if len(s.errs) != 2 || !strings.Contains(s.errs[0].Error(), "no agent has a free slot") {
				t.Fatalf("errors %v, want 2 about free slots", s.errs)
			}
		}},
		{"no agents: nothing placed, every wanted instance reported", func(t *testing.T, s *sim) {
			s.register(u)
			s.add(u.Name, 1, "gone", ufop.InstanceHealthy, time.Hour)
			acts := s.pass()
			if p, r := kinds(acts); p != 0 || r != 1 || acts[0].Why != scheduler.WhyAgentLost {
				t.Fatalf("%+v, want only the placement on the lost agent removed", acts)
			}
			if len(s.errs) != 3 {
				t.Fatalf("errors %v, want 3", s.errs)
			}
		}},
		{"a version not built is not placed", func(t *testing.T, s *sim) {
			s.agent("a1", 4)
			s.register(u)
			s.versions[scheduler.VersionKey{UFOP: u.Name, Version: 1}] = ufop.Version{UFOP: u.Name, N: 1, State: ufop.BuildRunning}
			if acts := s.pass(); len(acts) != 0 || len(s.errs) != 3 || !strings.Contains(s.errs[0].Error(), "not ok") {
				t.Fatalf("actions %+v, errors %v", acts, s.errs)
			}
			delete(s.versions, scheduler.VersionKey{UFOP: u.Name, Version: 1})
			if acts := s.pass(); len(acts) != 0 || len(s.errs) != 3 {
				t.Fatalf("actions %+v, errors %v", acts, s.errs)
			}
		}},
		{"failed instances are replaced, unregistered UFOPs removed, scale down drops unhealthy first", func(t *testing.T, s *sim) {
			s.agent("a1", 8)
			s.register(u)
			failed := s.add(u.Name, 1, "a1", ufop.InstanceFailed, time.Hour)
			starting := s.add(u.Name, 1, "a1", ufop.InstanceStarting, time.Hour)
			for range 3 {
				s.add(u.Name, 1, "a1", ufop.InstanceHealthy, time.Hour)
			}
			s.add("gone-ufop", 1, "a1", ufop.InstanceHealthy, time.Hour)
			s.add("gone-ufop", 1, "a1", ufop.InstanceHealthy, time.Hour)
			removed := map[string]string{}
			for _, a := range s.pass() {
				if a.Kind != scheduler.ActRemove {
					t.Fatalf("placed %+v", a)
				}
				removed[a.Placement.ID] = a.Why
			}
			if len(removed) != 4 || !strings.HasPrefix(removed[failed], scheduler.WhyFailed) ||
				removed[starting] != scheduler.WhyScaledDown {
				t.Fatalf("removed %v", removed)
			}
		}},
		{"a UFOP without a version has no instances", func(t *testing.T, s *sim) {
			s.agent("a1", 4)
			s.register(ufop.UFOP{Name: "my-ufop", Instances: 3})
			if acts := s.pass(); len(acts) != 0 || len(s.errs) != 0 {
				t.Fatalf("actions %+v, errors %v", acts, s.errs)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newSim(t)) })
	}
}
