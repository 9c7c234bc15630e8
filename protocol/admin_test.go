package protocol

import (
	"encoding/json"
	"testing"

	"github.com/ufop/ufop"
)

// TestAdminBodiesOnTheWire pins the JSON the gateway and ufopctl exchange.
func TestAdminBodiesOnTheWire(t *testing.T) {
	rps, burst, yes := 2.5, 0, true
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"bucket options", BucketOptions{Private: true, Referers: []string{"*.example.com"}},
			`{"private":true,"referers":["*.example.com"],"allowEmptyReferer":false}`},
		{"new user", NewUser{Name: "alice", AK: "a", SK: "s", Tier: ufop.TierPaid},
			`{"name":"alice","ak":"a","sk":"s","tier":"paid","admin":false}`},
		{"new key", NewKey{User: "alice", AK: "a", SK: "s"}, `{"user":"alice","ak":"a","sk":"s"}`},
		{"limit change", LimitChange{RPS: &rps, Burst: &burst, Cmd: "imageView2"},
			`{"rps":2.5,"burst":0,"cmd":"imageView2"}`},
		{"style set", StyleSet{Fops: "imageView2/2/w/200"}, `{"fops":"imageView2/2/w/200"}`},
		{"bucket change", BucketChange{StyleSep: new(string), ProtectOriginal: &yes}, `{"styleSep":"","protectOriginal":true}`},
		{"tier limits", TierLimits{RPS: 10, Burst: 20, Commands: map[string]float64{"facecrop": 2}},
			`{"rps":10,"burst":20,"concurrency":0,"commands":{"facecrop":2}}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(tt.v)
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %s (%v), want %s", tt.name, b, err, tt.want)
		}
	}
}
