package ufop_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestValidUFOPName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"sepia", true},
		{"a_b-c", true},
		{"abcde", true},
		{strings.Repeat("x", 20), true},
		{"0face-crop_9", true},
		{"abcd", false}, // too short
		{strings.Repeat("x", 21), false},
		{"Sepia", false}, // upper case
		{"sep ia", false},
		{"sep.ia", false},
		{"sepia\n", false},
		{"", false},
		{"ünïcode", false},
	}
	for _, tc := range tests {
		if got := ufop.ValidUFOPName(tc.name); got != tc.ok {
			t.Errorf("ValidUFOPName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
	}
}

func TestMayUse(t *testing.T) {
	tests := []struct {
		mode   ufop.ACLMode
		grants []string
		user   string
		want   bool
	}{
		{ufop.ModePublic, nil, "alice", true},
		{ufop.ModePublic, nil, "bob", true},
		{ufop.ModeProtected, []string{"bob"}, "alice", true}, // owner
		{ufop.ModeProtected, []string{"bob"}, "bob", true},
		{ufop.ModeProtected, []string{"bob"}, "carol", false},
		{ufop.ModeProtected, nil, "bob", false},
		{ufop.ModePrivate, nil, "alice", true},
		{ufop.ModePrivate, []string{"bob"}, "bob", false}, // grants count only when protected
		{ufop.ModePrivate, nil, "", false},
		{ufop.ACLMode(9), []string{"bob"}, "bob", false}, // unknown modes allow only the owner
		{ufop.ACLMode(9), nil, "alice", true},
	}
	for _, tc := range tests {
		u := ufop.UFOP{Name: "sepia", Owner: "alice", Mode: tc.mode, Grants: tc.grants}
		if got := u.MayUse(tc.user); got != tc.want {
			t.Errorf("mode %d grants %v: MayUse(%q) = %v, want %v", tc.mode, tc.grants, tc.user, got, tc.want)
		}
	}
}

func TestLoadOverloaded(t *testing.T) {
	tests := []struct {
		l    ufop.Load
		want bool
	}{
		{ufop.Load{}, false}, // unbounded queue
		{ufop.Load{Queued: 100}, false},
		{ufop.Load{Queued: 3, MaxQueue: 4}, false},
		{ufop.Load{Queued: 4, MaxQueue: 4}, true},
		{ufop.Load{Queued: 5, MaxQueue: 4}, true},
	}
	for _, tc := range tests {
		if got := tc.l.Overloaded(); got != tc.want {
			t.Errorf("%+v.Overloaded() = %v, want %v", tc.l, got, tc.want)
		}
	}
}

// The shared types travel as JSON between components (etcd records, jobs
// on NATS, agent registrations): their field names are a wire contract.
func TestJSONFieldNames(t *testing.T) {
	at := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		v    any
		want []string // keys that must appear
		omit []string // keys that must not appear when empty
	}{
		{"job", ufop.Job{ID: "r1", Fops: "imageView2/1/w/10", Source: ufop.Source{Bucket: "b", Key: "k"}, Deadline: at,
			Refs: map[string]ufop.ObjectRef{"wm": {Bucket: "b", Key: "w.png"}}},
			[]string{"id", "source", "fops", "owner", "tier", "reqid", "deadline", "objectsURL", "refs"}, []string{"grant", "reply"}},
		{"agent", ufop.Agent{ID: "a1", Addr: "http://127.0.0.1:1"},
			[]string{"id", "addr", "ops", "load", "started"}, []string{"ufops", "slots"}},
		{"ufop", ufop.UFOP{Name: "sepia", Mode: ufop.ModeProtected, Scale: &ufop.ScalePolicy{Min: 1, Max: 3, Cooldown: time.Second}},
			[]string{"name", "owner", "mode", "created", "version", "instances", "scale"}, []string{"desc", "grants", "rollout", "step"}},
		{"bucket", ufop.Bucket{Name: "b"},
			[]string{"name", "owner", "private", "created"}, []string{"referers", "mirror", "maxAge", "allowEmptyReferer", "styleSep", "protectOriginal"}},
		{"instance", ufop.Instance{ID: "i", State: ufop.InstanceHealthy},
			[]string{"id", "ufop", "version", "agent", "state", "inflight", "queued", "started"}, []string{"restarts", "error"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]json.RawMessage
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			for _, k := range tc.want {
				if _, ok := m[k]; !ok {
					t.Errorf("key %q missing from %s", k, b)
				}
			}
			for _, k := range tc.omit {
				if _, ok := m[k]; ok {
					t.Errorf("empty key %q present in %s", k, b)
				}
			}
		})
	}
}

func TestJobRoundTrip(t *testing.T) {
	in := ufop.Job{
		ID: "req-1", Fops: "imageView2/2/w/100|watermark/1/image/d2F0ZXI=",
		Source: ufop.Source{Bucket: "photos", Key: "a/b.jpg", ETag: "abc", Size: 12, ContentType: "image/jpeg", URL: "http://127.0.0.1:1/o"},
		Owner:  "alice", Tier: ufop.TierPaid, Reqid: "req-1",
		Deadline:   time.Date(2026, 12, 2, 0, 0, 0, 5, time.UTC),
		ObjectsURL: "http://127.0.0.1:1", Refs: map[string]ufop.ObjectRef{"d2F0ZXI=": {Bucket: "photos", Key: "w.png"}},
		Grant: "g", Reply: "_INBOX.x",
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out ufop.Job
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !out.Deadline.Equal(in.Deadline) || out.Source != in.Source || out.Refs["d2F0ZXI="] != in.Refs["d2F0ZXI="] ||
		out.ID != in.ID || out.Fops != in.Fops || out.Owner != in.Owner || out.Tier != in.Tier || out.Grant != in.Grant || out.Reply != in.Reply {
		t.Errorf("round trip changed the job:\n in %+v\nout %+v", in, out)
	}
}
