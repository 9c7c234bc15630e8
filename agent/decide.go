package agent

import (
	"cmp"
	"slices"
	"time"

	"github.com/ufop/ufop"
)

// The agent's decisions about its instances, apart from the Docker, etcd
// and HTTP around them: ufops.reconcile loads a snapshot under its lock,
// decide says what to do, and reconcile applies it. Like scheduler.Decide
// and scaler.Decide, these functions do no I/O and read no clock, so a
// test builds their input by hand.

// instView is what the decisions know of one instance.
type instView struct {
	ID      string // the placement's
	UFOP    string
	Version int
	State   ufop.InstanceState
	// Inflight are requests holding a slot; Queued wait for one.
	Inflight, Queued int
	// Concurrency is the declared concurrency (at least 1).
	Concurrency int
	Restarts    int
	// Running: a container serves it (the runtime gave it an id).
	Running bool
	// Launching: a start is under way.
	Launching bool
	// RetryAt is when a failed start may be tried again.
	RetryAt time.Time
	// Retiring: draining since DrainSince, taking no new work.
	Retiring   bool
	DrainSince time.Time
	// Dead: the engine reported its container died or turned unhealthy,
	// and nothing has been done about it yet.
	Dead bool
}

// agentSnapshot is everything one reconcile pass decides from.
type agentSnapshot struct {
	Now time.Time
	// Desired are this agent's placements, by ID.
	Desired map[string]ufop.Placement
	// Instances are the instances this agent keeps, in any order.
	Instances []instView
	// DrainTimeout bounds how long a retiring instance's requests may
	// keep it; past it the instance stops anyway.
	DrainTimeout time.Duration
	// MaxRestarts is how many restarts in a row an instance gets before
	// it is reported failed.
	MaxRestarts int
}

type actKind int

const (
	// actStart keeps a new instance for Placement and launches it.
	actStart actKind = iota + 1
	// actLaunch starts the container of an instance that has none (its
	// last start failed and the retry is due).
	actLaunch
	// actDrain takes an instance out of routing; it stops once its
	// requests are done.
	actDrain
	// actStop stops the instance's container (if any) and forgets it.
	actStop
	// actRestart cancels the requests of a dead instance, removes its
	// container and launches a new one in place.
	actRestart
	// actFail is actRestart without the launch: too many restarts, the
	// instance is reported failed and the scheduler places it again.
	actFail
)

func (k actKind) String() string {
	switch k {
	case actStart:
		return "start"
	case actLaunch:
		return "launch"
	case actDrain:
		return "drain"
	case actStop:
		return "stop"
	case actRestart:
		return "restart"
	case actFail:
		return "fail"
	}
	return "?"
}

// Reasons for drains and stops, for the log.
const (
	whyRemoved        = "placement removed"
	whyVersionChanged = "version changed"
	whyDrained        = "drained"
	whyDrainTimeout   = "drain timed out"
	whyDiedRetiring   = "died while retiring"
)

// action is one change decide wants applied.
type action struct {
	Kind      actKind
	ID        string         // the instance's (placement ID)
	Placement ufop.Placement // actStart
	Why       string
}

// decide returns what moves the instances toward the snapshot's desired
// placements, in a deterministic order (by instance ID, starts last):
//
//   - A desired placement with no instance gets one (actStart).
//   - An instance whose placement is gone, or now names another version,
//     is drained: no new work; it stops once its requests in flight and
//     queued are done, or DrainTimeout after the drain began.
//   - A dead instance (died or unhealthy, says the engine) is restarted
//     in place, or failed past MaxRestarts; a retiring one just stops.
//   - An instance without a container, neither failed nor launching, is
//     launched again once its RetryAt passes.
func decide(s agentSnapshot) []action {
	insts := slices.Clone(s.Instances)
	slices.SortFunc(insts, func(a, b instView) int { return cmp.Compare(a.ID, b.ID) })
	var acts []action
	have := map[string]bool{}
	for _, in := range insts {
		have[in.ID] = true
		p, wanted := s.Desired[in.ID]
		switch {
		case in.Dead && in.Retiring:
			acts = append(acts, action{Kind: actStop, ID: in.ID, Why: whyDiedRetiring})
		case in.Dead && in.Restarts+1 > s.MaxRestarts:
			acts = append(acts, action{Kind: actFail, ID: in.ID})
		case in.Dead:
			acts = append(acts, action{Kind: actRestart, ID: in.ID})
		case in.Retiring && in.Inflight+in.Queued == 0:
			acts = append(acts, action{Kind: actStop, ID: in.ID, Why: whyDrained})
		case in.Retiring && !s.Now.Before(in.DrainSince.Add(s.DrainTimeout)):
			acts = append(acts, action{Kind: actStop, ID: in.ID, Why: whyDrainTimeout})
		case in.Retiring:
			// Draining: wait for the requests.
		case !wanted:
			acts = append(acts, action{Kind: actDrain, ID: in.ID, Why: whyRemoved})
		case p.Version != in.Version:
			acts = append(acts, action{Kind: actDrain, ID: in.ID, Why: whyVersionChanged})
		case !in.Running && !in.Launching && in.State != ufop.InstanceFailed && !s.Now.Before(in.RetryAt):
			acts = append(acts, action{Kind: actLaunch, ID: in.ID})
		}
	}
	ids := make([]string, 0, len(s.Desired))
	for id := range s.Desired {
		if !have[id] {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	for _, id := range ids {
		acts = append(acts, action{Kind: actStart, ID: id, Placement: s.Desired[id]})
	}
	return acts
}

// pickable says whether in may take new work of name at all.
func pickable(in instView, name, exclude string) bool {
	return in.UFOP == name && in.State == ufop.InstanceHealthy && !in.Retiring && !in.Dead && in.ID != exclude
}

// pick chooses the instance of name a request goes to, exclude aside (the
// one that just failed it). Only healthy instances that are neither
// draining nor dead count; during an upgrade both versions serve. The
// order is the load (in flight plus queued), then the newer version, then
// the ID, so equal snapshots pick alike. ok is false without a candidate
// (the caller answers unavailable). free is false when every candidate is
// at its concurrency: id is then the least loaded, which the caller may
// queue behind, or answer busy.
func pick(insts []instView, name, exclude string) (id string, free, ok bool) {
	var cands []instView
	for _, in := range insts {
		if pickable(in, name, exclude) {
			cands = append(cands, in)
		}
	}
	if len(cands) == 0 {
		return "", false, false
	}
	slices.SortFunc(cands, func(a, b instView) int {
		if c := cmp.Compare(a.Inflight+a.Queued, b.Inflight+b.Queued); c != 0 {
			return c
		}
		if c := cmp.Compare(b.Version, a.Version); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	for _, in := range cands {
		if in.Inflight < in.Concurrency {
			return in.ID, true, true
		}
	}
	return cands[0].ID, false, true
}

// capacityOf is the concurrency of the healthy instances of name that take
// work: how many jobs this agent pulls for it at once.
func capacityOf(insts []instView, name string) int {
	n := 0
	for _, in := range insts {
		if pickable(in, name, "") {
			n += in.Concurrency
		}
	}
	return n
}

// startFailed says whether an instance whose start just failed, now with
// restarts restarts, is failed for good (else its start is retried after
// a pause); stopping when the agent is.
func startFailed(restarts, maxRestarts int, stopping bool) bool {
	return restarts >= maxRestarts || stopping
}
