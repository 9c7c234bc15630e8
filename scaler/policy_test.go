package scaler

import (
	"fmt"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

// step is one observation, a second apart by default, and what the policy
// must answer to it (want < 0: not checked).
type step struct {
	t      int // seconds since the start
	depth  int
	want   int
	reason string
}

// steady is depth from second from to second to, unchecked.
func steady(from, to, depth int) []step {
	var s []step
	for t := from; t <= to; t++ {
		s = append(s, step{t: t, depth: depth, want: -1})
	}
	return s
}

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestDecide(t *testing.T) {
	w := Windows{Stable: 30 * time.Second, Panic: 3 * time.Second, PanicThreshold: 2}
	base := ufop.ScalePolicy{Min: 1, Max: 5, Threshold: 2, Cooldown: 10 * time.Second}
	withStep := base
	withStep.MaxStep = 2
	minZero := base
	minZero.Min = 0
	tiny := base
	tiny.Threshold = 1e-300
	idle := minZero
	idle.Idle = 60 * time.Second
	tests := []struct {
		name   string
		policy ufop.ScalePolicy
		start  int // the count before the first step
		steps  []step
	}{
		{"burst → panic scale-up at once", base, 1, seq(
			steady(0, 4, 0),
			[]step{{5, 40, 5, ReasonPanic}},
		)},
		{"burst from zero panics too", minZero, 0, seq(
			steady(0, 4, 0),
			[]step{{5, 12, 2, ReasonPanic}}, // panic avg 4 → 2 instances, ≥ 2 × max(0, 1)
		)},
		{"one job for a UFOP at zero wakes one instance at once", minZero, 0, seq(
			steady(0, 40, 0),
			[]step{{41, 1, 1, ReasonWake}},
		)},
		{"a burst for a UFOP at zero is sized by the panic window", minZero, 0, []step{{0, 8, 4, ReasonPanic}}},
		{"min 0: to zero only after the idle time", idle, 0, seq(
			[]step{{0, 1, 1, ReasonWake}},
			steady(1, 58, 0), // empty, cool-down long passed, but not idle yet
			[]step{{59, 0, 1, ReasonHold}},
			[]step{{60, 0, 0, ReasonIdle}}, // a minute after the last job
			[]step{{61, 0, 0, ReasonHold}},
		)},
		{"min 0: a job restarts the idle time", idle, 1, seq(
			steady(0, 30, 0),
			[]step{{31, 1, 1, ReasonHold}},
			steady(32, 90, 0),
			[]step{{91, 0, 0, ReasonIdle}},
		)},
		{"min 0 without an idle time: the default, 5 minutes", minZero, 1, seq(
			steady(0, 298, 0),
			[]step{{299, 0, 1, ReasonHold}, {300, 0, 0, ReasonIdle}},
		)},
		{"min 0: several instances come down to one, then idle to zero", idle, 3, seq(
			steady(0, 9, 0),
			[]step{{10, 0, 1, ReasonCooldown}},
			steady(11, 59, 0),
			[]step{{60, 0, 0, ReasonIdle}},
		)},
		{"steady load over capacity → stable scale-up", base, 1, []step{
			{0, 3, 2, ReasonStable}, // 1.5 × capacity: no panic; ceil(3/2) = 2
			{1, 3, 2, ReasonHold},
		}},
		{"a short blip under the panic threshold is smoothed away", base, 1, seq(
			steady(0, 25, 0),
			[]step{{26, 3, 1, ReasonHold}, {27, 3, 1, ReasonHold}, {28, 3, 1, ReasonHold}},
		)},
		{"the stable average grows into a scale-up", base, 2, seq(
			steady(0, 9, 3), // under the capacity of 2
			[]step{{10, 7, 2, ReasonHold}, {11, 7, 2, ReasonHold}, {12, 7, 2, ReasonHold}}, // avg 3.36, 3.67, 3.92
			[]step{{13, 7, 3, ReasonStable}},                                               // avg 4.14 → 3
		)},
		{"step limit", withStep, 1, seq(
			steady(0, 4, 0),
			[]step{{5, 40, 3, ReasonPanic}, {6, 40, 5, ReasonPanic}, {7, 40, 5, ReasonHold}},
		)},
		{"clamp to max", base, 1, []step{{0, 1000, 5, ReasonPanic}}},
		{"a tiny threshold asks for the max, not an overflow", tiny, 1, []step{{0, 1, 5, ReasonPanic}}},
		{"below min → min", base, 0, []step{{0, 0, 1, ReasonMin}}},
		{"above max → max", base, 8, []step{{0, 0, 5, ReasonMax}}},
		{"never below min", base, 2, seq(
			steady(0, 60, 0),
			[]step{{61, 0, 1, ReasonHold}},
		)},
		{"cool-down gating, one decision at a time", base, 5, seq(
			steady(0, 20, 10),                  // busy: exactly 5 instances' worth, no panic
			steady(21, 29, 0),                  // quiet, but not for a whole cool-down yet
			[]step{{30, 0, 4, ReasonCooldown}}, // stable avg 200/30 → 4
			steady(31, 39, 0),                  // a new cool-down after the change
			[]step{{40, 0, 2, ReasonCooldown}}, // stable avg 100/30 → 2
			[]step{{50, 0, 1, ReasonCooldown}}, // stable avg 0 → 1
			[]step{{60, 0, 1, ReasonHold}},
		)},
		{"a busy moment restarts the cool-down", base, 3, seq(
			steady(0, 8, 0),               // first sight counts as a change: cool-down from 0
			[]step{{9, 6, 3, ReasonHold}}, // at 3 × 2: busy
			steady(10, 18, 0),
			[]step{{19, 0, 1, ReasonCooldown}},
		)},
		{"a queue seen during the cool-down keeps its instances", base, 5, seq(
			steady(0, 4, 0),
			[]step{{5, 7, 5, ReasonHold}}, // under 5 × 2: not busy, but 4 instances' worth
			steady(6, 9, 0),
			[]step{{10, 0, 4, ReasonCooldown}},
			steady(11, 19, 0),
			[]step{{20, 0, 1, ReasonCooldown}},
		)},
		{"a queue older than the cool-down is forgotten", base, 5, seq(
			steady(0, 10, 60),              // panic
			[]step{{11, 6, 5, ReasonHold}}, // the drain: under capacity, inside the panic hold
			steady(12, 41, 0),
			[]step{{42, 0, 1, ReasonCooldown}}, // panic over; the 6 is 31 s old
		)},
		{"no scale-down while panicking", base, 5, seq(
			steady(0, 10, 60), // far over capacity: panic until the panic window empties at 13
			steady(11, 40, 0), // quiet for well over the cool-down, but inside the panic hold
			[]step{{41, 0, 5, ReasonHold}},
			[]step{{42, 0, 1, ReasonCooldown}}, // 30 s without the panic condition
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			var h History
			cur := tt.start
			for _, s := range tt.steps {
				o := Observation{At: t0.Add(time.Duration(s.t) * time.Second), Waiting: s.depth, Current: cur, Running: cur}
				d := Decide(tt.policy, w, &h, o)
				if s.want >= 0 && (d.Desired != s.want || d.Reason != s.reason) {
					t.Fatalf("t=%ds depth %d at %d instances: got %d (%s), want %d (%s); stable avg %.2f panic avg %.2f panicking %v",
						s.t, s.depth, cur, d.Desired, d.Reason, s.want, s.reason, d.StableAvg, d.PanicAvg, d.Panicking)
				}
				if d.Changed() != (d.Desired != cur) {
					t.Fatalf("t=%ds: direction %q for %d → %d", s.t, d.Direction, cur, d.Desired)
				}
				cur = d.Desired
			}
		})
	}
}

// TestDecideStaysAtZero: a UFOP resized to zero by hand right after a
// load stays there with an empty queue, though the windows remember the
// load: at zero, only a waiting job starts an instance.
func TestDecideStaysAtZero(t *testing.T) {
	w := Windows{Stable: 30 * time.Second, Panic: 3 * time.Second, PanicThreshold: 2}
	p := ufop.ScalePolicy{Min: 0, Max: 5, Threshold: 2, Cooldown: 10 * time.Second, Idle: time.Minute}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h History
	for s := range 10 {
		Decide(p, w, &h, Observation{At: t0.Add(time.Duration(s) * time.Second), Waiting: 6, Current: 3})
	}
	d := Decide(p, w, &h, Observation{At: t0.Add(10 * time.Second), Current: 0})
	if d.Changed() || d.Desired != 0 {
		t.Fatalf("at zero with an empty queue: %+v, want a hold at 0", d)
	}
	d = Decide(p, w, &h, Observation{At: t0.Add(11 * time.Second), Waiting: 1, Current: 0})
	if d.Desired < 1 || !d.Changed() {
		t.Fatalf("at zero with a job waiting: %+v, want at least one instance", d)
	}
}

// TestDecideBounds checks, over many random-looking load series, what must
// hold whatever the load (checkBounds).
func TestDecideBounds(t *testing.T) {
	for seed := range 20 {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			p := ufop.ScalePolicy{Min: seed % 3, Max: 3 + seed%5, Threshold: 0.5 + float64(seed%4), Cooldown: time.Duration(seed%7) * time.Second, MaxStep: seed % 3}
			depths := make([]byte, 500)
			x := uint32(seed*2654435761 + 1)
			for i := range depths {
				x = x*1664525 + 1013904223 // a fixed LCG: the same series every run
				depths[i] = byte(x>>24) % 40
				if (i/50)%2 == 1 {
					depths[i] /= 10 // alternate busy and quiet stretches
				}
			}
			checkBounds(t, p, depths)
		})
	}
}

// FuzzDecide feeds the policy any policy the API accepts and any load
// series: the policy (user input) must never drive the count out of
// bounds or faster than its step.
func FuzzDecide(f *testing.F) {
	f.Add(1, 5, 2.0, int64(10), 0, []byte{0, 0, 40, 40, 40, 0, 0, 0, 0, 0, 0, 0})
	f.Add(0, 3, 0.5, int64(0), 1, []byte{255, 0, 255, 0, 7})
	f.Fuzz(func(t *testing.T, lo, hi int, threshold float64, cooldownSec int64, step int, depths []byte) {
		// What the gateway accepts (gateway.scaleUFOP).
		if lo < 0 || hi < lo || hi > 1000 || !(threshold > 0) || cooldownSec < 0 || cooldownSec > 3600 || step < 0 || len(depths) > 2000 {
			t.Skip()
		}
		checkBounds(t, ufop.ScalePolicy{Min: lo, Max: hi, Threshold: threshold, Cooldown: time.Duration(cooldownSec) * time.Second, MaxStep: step}, depths)
	})
}

// checkBounds runs the policy on depths, one every 500 ms from zero
// instances, and checks that the count, once in [min, max], stays there,
// moves at most MaxStep at a time, and never goes down while panicking.
func checkBounds(t *testing.T, p ufop.ScalePolicy, depths []byte) {
	t.Helper()
	w := Windows{Stable: 10 * time.Second, Panic: 2 * time.Second, PanicThreshold: 2}
	var h History
	cur := 0
	t0 := time.Unix(0, 0)
	for i, depth := range depths {
		// Depths up to 255 × 16: deep queues too.
		d := Decide(p, w, &h, Observation{At: t0.Add(time.Duration(i) * 500 * time.Millisecond), Waiting: int(depth) * 16, Current: cur})
		inRange := cur >= p.Min && cur <= p.Max
		if inRange && (d.Desired < p.Min || d.Desired > p.Max) {
			t.Fatalf("step %d: %d outside [%d, %d]", i, d.Desired, p.Min, p.Max)
		}
		if p.MaxStep > 0 && (d.Desired-cur > p.MaxStep || cur-d.Desired > p.MaxStep) {
			t.Fatalf("step %d: %d → %d with step limit %d", i, cur, d.Desired, p.MaxStep)
		}
		if d.Panicking && inRange && d.Desired < cur {
			t.Fatalf("step %d: scaled down %d → %d while panicking", i, cur, d.Desired)
		}
		if d.Changed() != (d.Desired != cur) {
			t.Fatalf("step %d: direction %q for %d → %d", i, d.Direction, cur, d.Desired)
		}
		cur = d.Desired
	}
}

// BenchmarkDecide is the policy's cost per UFOP and pass, with full
// windows (30 samples).
func BenchmarkDecide(b *testing.B) {
	w := Windows{Stable: 30 * time.Second, Panic: 3 * time.Second, PanicThreshold: 2}
	p := ufop.ScalePolicy{Min: 1, Max: 5, Threshold: 2, Cooldown: 10 * time.Second}
	var h History
	t0 := time.Unix(0, 0)
	cur := 1
	for i := 0; b.Loop(); i++ {
		d := Decide(p, w, &h, Observation{At: t0.Add(time.Duration(i) * time.Second), Waiting: (i / 60 % 2) * 40, Current: cur})
		cur = d.Desired
	}
}
