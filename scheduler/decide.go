package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ufop/ufop"
)

// Snapshot is everything one reconcile pass decides from. The etcd loop
// reads it whole before deciding, so Decide does no I/O and a test can
// build one by hand.
type Snapshot struct {
	// Now stamps new placements and measures StartGrace.
	Now time.Time
	// StartGrace is Config.StartGrace.
	StartGrace time.Duration
	// Agents are the announced agents; those without slots (no container
	// runtime) are ignored.
	Agents []ufop.Agent
	// UFOPs are the registered UFOPs; placements of any other are removed.
	UFOPs []ufop.UFOP
	// Versions are the catalog's versions the UFOPs may be placed at (their
	// Version and Rollout). A version missing here cannot be placed.
	Versions map[VersionKey]ufop.Version
	// Placements are the current placements.
	Placements []ufop.Placement
	// Instances are the agents' reports, by placement ID.
	Instances map[string]ufop.Instance
}

// VersionKey names one version of a UFOP.
type VersionKey struct {
	UFOP    string
	Version int
}

// ActionKind is what an Action does.
type ActionKind int

// The kinds of action.
const (
	// ActPlace writes a new placement.
	ActPlace ActionKind = iota + 1
	// ActRemove deletes a placement; its agent stops the instance.
	ActRemove
)

// Action is one change Decide wants applied.
type Action struct {
	Kind ActionKind
	// Placement is the placement to write or delete. A new placement has
	// no ID yet: the applier names it (IDs are random, which would make
	// Decide impure), and nothing later in the same pass refers to it.
	Placement ufop.Placement
	// Why a placement is removed, for the log.
	Why string
}

// Removal reasons.
const (
	WhyUnregistered = "UFOP unregistered"
	WhyAgentLost    = "agent lost"
	WhyFailed       = "instance failed"
	WhyScaledDown   = "scaled down"
	WhyUpgraded     = "upgraded"
)

// Decide returns the actions that move the snapshot's placements toward the
// UFOPs' desired state, and the placements it wanted but could not make
// (no free slot, version not built). It assumes every action it returns is
// applied in order; the next pass corrects whatever was not.
//
//   - Placements of unregistered UFOPs, on lost agents or whose instance
//     failed are removed.
//   - Without an upgrade, missing instances are placed at the UFOP's
//     Version and extra ones removed, unhealthy and newest first.
//   - During an upgrade (placements older than Rollout exist), up to Step
//     new instances start at a time (those starting for less than
//     StartGrace count against Step), and old ones stop only as new ones
//     turn healthy, so healthy capacity never drops below what is wanted.
//   - A new placement goes to the agent with a free slot that holds the
//     fewest instances of the UFOP, then the least loaded relative to its
//     slots, then the smallest ID.
func Decide(s Snapshot) ([]Action, []error) {
	d := decider{s: s, agents: map[string]ufop.Agent{}, placements: map[string][]ufop.Placement{}, perAgent: map[string]int{}}
	for _, a := range s.Agents {
		if a.Slots > 0 {
			d.agents[a.ID] = a
		}
	}
	for _, p := range s.Placements {
		d.placements[p.UFOP] = append(d.placements[p.UFOP], p)
		d.perAgent[p.Agent]++
	}
	registered := map[string]bool{}
	for _, u := range s.UFOPs {
		registered[u.Name] = true
	}
	// Sorted, so that equal snapshots give equal decisions.
	names := make([]string, 0, len(d.placements))
	for name := range d.placements {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !registered[name] {
			// A copy: remove edits d.placements[name] in place.
			for _, p := range slices.Clone(d.placements[name]) {
				d.remove(p, WhyUnregistered)
			}
		}
	}
	ufops := slices.Clone(s.UFOPs)
	slices.SortFunc(ufops, func(a, b ufop.UFOP) int { return strings.Compare(a.Name, b.Name) })
	for _, u := range ufops {
		d.ufop(u)
	}
	return d.actions, d.errs
}

// Want is the number of instances u should have.
func Want(u ufop.UFOP) int {
	if u.Version == 0 {
		return 0
	}
	return u.Instances
}

// decider is one Decide pass: the snapshot as the actions so far leave it.
type decider struct {
	s          Snapshot
	agents     map[string]ufop.Agent
	placements map[string][]ufop.Placement // by UFOP
	perAgent   map[string]int              // placements per agent, all UFOPs
	actions    []Action
	errs       []error
}

func (d *decider) healthy(p ufop.Placement) bool {
	return d.s.Instances[p.ID].State == ufop.InstanceHealthy
}

func (d *decider) ufop(u ufop.UFOP) {
	var live []ufop.Placement
	// A copy: remove edits d.placements[u.Name] in place, which would skip
	// the placement after each one removed.
	for _, p := range slices.Clone(d.placements[u.Name]) {
		in, reported := d.s.Instances[p.ID]
		switch {
		case d.agents[p.Agent].ID == "":
			d.remove(p, WhyAgentLost)
		case reported && in.State == ufop.InstanceFailed:
			d.remove(p, WhyFailed+": "+in.Error)
		default:
			live = append(live, p)
		}
	}
	want := Want(u)
	var old, cur []ufop.Placement
	for _, p := range live {
		if p.Version < u.Rollout {
			old = append(old, p)
		} else {
			cur = append(cur, p)
		}
	}
	// Unhealthy and newest go first when shrinking.
	byRemoval := func(list []ufop.Placement) {
		slices.SortFunc(list, func(a, b ufop.Placement) int {
			if ha, hb := d.healthy(a), d.healthy(b); ha != hb {
				if ha {
					return 1
				}
				return -1
			}
			return b.Created.Compare(a.Created)
		})
	}

	if len(old) == 0 {
		for range want - len(cur) {
			d.place(u, u.Version)
		}
		if extra := len(cur) - want; extra > 0 {
			byRemoval(cur)
			for _, p := range cur[:extra] {
				d.remove(p, WhyScaledDown)
			}
		}
		return
	}

	// An upgrade: start up to Step new instances at a time, and stop old
	// ones only as new ones turn healthy, so capacity never drops.
	step := max(u.Step, 1)
	pending, healthyNew := 0, 0
	for _, p := range cur {
		if d.healthy(p) {
			healthyNew++
		} else if d.s.Now.Sub(p.Created) < d.s.StartGrace {
			pending++
		}
	}
	for range min(want-len(cur), step-pending) {
		d.place(u, u.Rollout)
	}
	if remove := healthyNew + len(old) - want; remove > 0 {
		byRemoval(old)
		for _, p := range old[:min(remove, len(old))] {
			d.remove(p, WhyUpgraded)
		}
	}
}

// place puts a new instance of u at version on the best agent.
func (d *decider) place(u ufop.UFOP, version int) {
	v, ok := d.s.Versions[VersionKey{u.Name, version}]
	if !ok {
		d.errs = append(d.errs, fmt.Errorf("scheduler: %s v%d is not in the catalog", u.Name, version))
		return
	}
	if v.State != ufop.BuildOK {
		d.errs = append(d.errs, fmt.Errorf("scheduler: %s v%d is %s, not ok", u.Name, version, v.State))
		return
	}
	spec, err := SpecOf(v)
	if err != nil {
		d.errs = append(d.errs, err)
		return
	}
	mine := map[string]int{}
	for _, p := range d.placements[u.Name] {
		mine[p.Agent]++
	}
	var best ufop.Agent
	for _, a := range d.agents {
		if d.perAgent[a.ID] >= a.Slots {
			continue
		}
		if best.ID == "" || cmp.Or(
			cmp.Compare(mine[a.ID], mine[best.ID]),
			cmp.Compare(d.perAgent[a.ID]*best.Slots, d.perAgent[best.ID]*a.Slots),
			cmp.Compare(a.ID, best.ID)) < 0 {
			best = a
		}
	}
	if best.ID == "" {
		d.errs = append(d.errs, fmt.Errorf("scheduler: no agent has a free slot for %s", u.Name))
		return
	}
	p := ufop.Placement{UFOP: u.Name, Version: version, Agent: best.ID, Spec: spec, Created: d.s.Now}
	d.placements[u.Name] = append(d.placements[u.Name], p)
	d.perAgent[best.ID]++
	d.actions = append(d.actions, Action{Kind: ActPlace, Placement: p})
}

func (d *decider) remove(p ufop.Placement, why string) {
	d.placements[p.UFOP] = slices.DeleteFunc(d.placements[p.UFOP], func(x ufop.Placement) bool {
		return x.ID == p.ID && x.Agent == p.Agent
	})
	d.perAgent[p.Agent]--
	d.actions = append(d.actions, Action{Kind: ActRemove, Placement: p, Why: why})
}
