package scaler

import (
	"math"
	"time"

	"github.com/ufop/ufop"
)

// Windows are the policy's averaging windows, shared by every UFOP (the
// per-UFOP knobs are in ufop.ScalePolicy).
type Windows struct {
	// Stable is the window whose average depth sizes ordinary scale-ups,
	// and how long the panic condition must stay away before panic mode
	// ends.
	Stable time.Duration
	// Panic is the short window that detects bursts.
	Panic time.Duration
	// PanicThreshold is the ratio of the panic window's desired count to
	// the current count at which panic mode starts (2: twice the capacity).
	PanicThreshold float64
}

// Observation is one sample of a UFOP's load, taken at At.
type Observation struct {
	At       time.Time
	Waiting  int // jobs no agent has taken yet
	Inflight int // jobs taken, not yet acknowledged
	Current  int // desired instances in the catalog (UFOP.Instances)
	Running  int // healthy instances reported by the agents
}

// Depth is the load the policy follows: waiting plus in flight.
func (o Observation) Depth() int { return o.Waiting + o.Inflight }

// Directions and reasons of decisions (metric labels).
const (
	DirUp   = "up"
	DirDown = "down"

	ReasonPanic    = "panic"    // a burst: the panic window wants ≥ PanicThreshold × current
	ReasonStable   = "stable"   // the stable window's average wants more
	ReasonCooldown = "cooldown" // the queue stayed below capacity for the whole cool-down
	ReasonMin      = "min"      // the count was below the policy's minimum
	ReasonMax      = "max"      // the count was above the policy's maximum
	ReasonIdle     = "idle"     // the queue stayed empty for the policy's idle time: to zero
	ReasonWake     = "wake"     // a job for a UFOP at zero: one instance at once
	ReasonHold     = "hold"     // no change
)

// Decision is the outcome of one pass over a UFOP.
type Decision struct {
	// Desired is the instance count to write; equal to the observation's
	// Current when Direction is empty.
	Desired   int
	Direction string // DirUp, DirDown or "" (hold)
	Reason    string
	// The inputs, for the log and the metrics.
	StableAvg, PanicAvg float64
	Panicking           bool
}

// Changed reports whether the decision changes the count.
func (d Decision) Changed() bool { return d.Direction != "" }

// History is what the policy remembers of one UFOP between observations:
// the samples of the windows, panic mode, and the clocks of the cool-down.
// Its zero value is a UFOP seen for the first time. Decide assumes that
// each change it decides is applied.
type History struct {
	started   bool
	samples   []sample // within the stable window, oldest first
	panicking bool
	lastPanic time.Time // last time the panic condition held
	// lastChange is the last scale decision or burst; lastBusy the last
	// time the queue was at or above threshold × current. Scale-down waits
	// a cool-down after both.
	lastChange time.Time
	lastBusy   time.Time
	// lastWork is the last time the queue was not empty: a UFOP with min
	// 0 goes to zero only once it has been empty for the policy's idle
	// time.
	lastWork time.Time
	// peaks holds the samples after the later of the two and within the
	// last cool-down that no later sample is as deep as (depths falling,
	// times rising): its first is the deepest queue of the cool-down, the
	// load the instances left after a scale-down must still carry.
	peaks []sample
}

type sample struct {
	at    time.Time
	depth int
}

// avg is the mean depth of the samples taken within d before now.
func (h *History) avg(now time.Time, d time.Duration) float64 {
	sum, n := 0, 0
	for i := len(h.samples) - 1; i >= 0 && now.Sub(h.samples[i].at) < d; i-- {
		sum += h.samples[i].depth
		n++
	}
	if n == 0 {
		return 0
	}
	return float64(sum) / float64(n)
}

// addPeak adds a sample to the sliding maximum over the cool-down.
func (h *History) addPeak(now time.Time, depth int, cooldown time.Duration) {
	n := len(h.peaks)
	for n > 0 && h.peaks[n-1].depth <= depth {
		n--
	}
	h.peaks = append(h.peaks[:n], sample{now, depth})
	drop := 0
	for drop < len(h.peaks) && now.Sub(h.peaks[drop].at) > cooldown {
		drop++
	}
	if drop > 0 {
		h.peaks = append(h.peaks[:0], h.peaks[drop:]...)
	}
}

// peak is the deepest queue of the cool-down (0: none seen).
func (h *History) peak() int {
	if len(h.peaks) == 0 {
		return 0
	}
	return h.peaks[0].depth
}

// Decide records the observation and returns the instance count policy p
// wants, KPA-style:
//
//   - desired = ceil(depth / threshold), clamped to [min, max], with depth
//     averaged over the stable window (and, for bursts, the panic window);
//   - when the panic window wants at least PanicThreshold × the current
//     count, panic mode starts: scale up at once to the larger of the two
//     desired counts and never down, until the panic condition has been
//     gone for a whole stable window;
//   - otherwise scale up to the stable desired count;
//   - scale down only once the queue has stayed below threshold × current
//     for the whole cool-down since the last change or burst, to what both
//     the deepest queue of that cool-down and the stable average need;
//     each scale-down starts a new cool-down, so they come one decision at
//     a time, following the stable average down;
//   - a UFOP at zero with a job waiting goes to at least one instance at
//     once, and a UFOP with min 0 goes to zero only once its queue has
//     been empty for the policy's idle time.
//
// Every change is at most p.MaxStep instances (0: no limit).
func Decide(p ufop.ScalePolicy, w Windows, h *History, o Observation) Decision {
	now, depth, cur := o.At, o.Depth(), o.Current
	if !h.started {
		// A UFOP first seen (or a new leader) counts as just changed: no
		// scale-down before a full cool-down of observation.
		h.started, h.lastChange, h.lastBusy, h.lastWork = true, now, now, now
	}
	if depth > 0 {
		h.lastWork = now
	}
	h.samples = append(h.samples, sample{now, depth})
	drop := 0
	for drop < len(h.samples) && now.Sub(h.samples[drop].at) >= w.Stable {
		drop++
	}
	if drop > 0 {
		// In place: the buffer is reused instead of growing at its end.
		h.samples = append(h.samples[:0], h.samples[drop:]...)
	}

	thr := p.Threshold
	if !(thr > 0) {
		thr = 1 // the gateway refuses such policies; stay defined anyway
	}
	// need is the clamped count a depth asks for, compared as a float
	// first: a tiny threshold must give the maximum, not an overflow.
	need := func(depth float64) int {
		n := math.Ceil(depth / thr)
		if n >= float64(p.Max) {
			return p.Max
		}
		return max(p.Min, int(n))
	}
	d := Decision{Desired: cur, Reason: ReasonHold, StableAvg: h.avg(now, w.Stable), PanicAvg: h.avg(now, w.Panic)}
	stableWant, panicWant := need(d.StableAvg), need(d.PanicAvg)

	// Bursts are measured against the current count (at least one
	// instance's worth, so a UFOP scaled to zero can panic too).
	if d.PanicAvg/thr >= w.PanicThreshold*float64(max(cur, 1)) {
		if !h.panicking {
			h.panicking = true
			h.lastChange = now
		}
		h.lastPanic = now
	} else if h.panicking && now.Sub(h.lastPanic) >= w.Stable {
		h.panicking = false
	}
	d.Panicking = h.panicking

	if float64(depth) >= thr*float64(cur) {
		h.lastBusy, h.peaks = now, h.peaks[:0]
	} else {
		h.addPeak(now, depth, p.Cooldown)
	}

	target, dir, reason := cur, "", ReasonHold
	switch {
	case cur < p.Min:
		target, dir, reason = p.Min, DirUp, ReasonMin
	case cur > p.Max:
		target, dir, reason = p.Max, DirDown, ReasonMax
	case cur == 0 && depth > 0 && p.Max > 0:
		// Jobs wait for a UFOP at zero: nothing runs them, so no window
		// needs to agree first (scale from zero, issue 12).
		target, dir, reason = max(1, panicWant, stableWant), DirUp, ReasonWake
		if h.panicking {
			reason = ReasonPanic // a burst from zero, as before
		}
	case cur == 0:
		// At zero with nothing waiting: the windows' memory of earlier
		// jobs (a resize to zero right after them) starts nothing.
	case h.panicking:
		if want := max(panicWant, stableWant); want > cur {
			target, dir, reason = want, DirUp, ReasonPanic
		}
	case stableWant > cur:
		target, dir, reason = stableWant, DirUp, ReasonStable
	case now.Sub(h.lastBusy) >= p.Cooldown && now.Sub(h.lastChange) >= p.Cooldown:
		// Never below the stable desired count: the next pass would
		// scale straight back up.
		want, why := max(stableWant, need(float64(h.peak()))), ReasonCooldown
		if want == 0 {
			// Zero only once idle: the last instance stays for the
			// policy's idle time after the last job.
			if now.Sub(h.lastWork) < p.IdleOrDefault() {
				want = 1
			} else {
				why = ReasonIdle
			}
		}
		if want < cur {
			target, dir, reason = want, DirDown, why
		}
	}
	if dir == "" {
		return d
	}
	if p.MaxStep > 0 {
		target = max(cur-p.MaxStep, min(cur+p.MaxStep, target))
	}
	d.Desired, d.Direction, d.Reason = target, dir, reason
	h.lastChange, h.peaks = now, h.peaks[:0]
	return d
}
