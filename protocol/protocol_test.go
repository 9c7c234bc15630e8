package protocol

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// disjoint fails when one name in set is a prefix of another: a prefix
// watch or delete of one would then reach into the other.
func disjoint(t *testing.T, what string, set []string) {
	t.Helper()
	for i, a := range set {
		for j, b := range set {
			if i != j && strings.HasPrefix(b, a) {
				t.Errorf("%s: %q is a prefix of %q", what, a, b)
			}
		}
	}
}

func TestKeyLayoutIsDisjoint(t *testing.T) {
	for _, p := range Prefixes() {
		if !strings.HasPrefix(p, Root) || !strings.HasSuffix(p, "/") || p == Root {
			t.Errorf("prefix %q must be a directory under %q", p, Root)
		}
	}
	disjoint(t, "role prefixes", Prefixes())
	disjoint(t, "catalog tables", append(Tables(), ClusterTokenKey(""), ClusterIDKey("")))
	for _, tb := range Tables() {
		if !strings.HasSuffix(tb, "/") {
			t.Errorf("table %q must end with /", tb)
		}
	}
	// The scheduler's sub-trees: placements, instance reports, election.
	s := SchedulerPrefix
	disjoint(t, "scheduler keys", []string{PlacementsPrefix(s), InstancesPrefix(s), LeaderKey(s)})
	// A scaler or builder key never lands in another role's tree.
	keys := map[string]string{
		LeaderKey(ScalerPrefix):                    ScalerPrefix,
		BuilderKey(BuildersPrefix, "b1"):           BuildersPrefix,
		AgentKey(AgentsPrefix, "a1"):               AgentsPrefix,
		ClusterTokenKey(CatalogPrefix):             CatalogPrefix,
		ClusterIDKey(CatalogPrefix):                CatalogPrefix,
		CatalogKey(CatalogPrefix, TableUsers, "u"): CatalogPrefix,
		ReplayKey(ReplayPrefix, "00ff"):            ReplayPrefix,
		InstanceKey(SchedulerPrefix, "i1"):         SchedulerPrefix,
		PlacementKey(SchedulerPrefix, "a", "p"):    SchedulerPrefix,
	}
	for k, home := range keys {
		for _, p := range Prefixes() {
			if strings.HasPrefix(k, p) != (p == home) {
				t.Errorf("key %q: under %q is %v, want it only under %q", k, p, strings.HasPrefix(k, p), home)
			}
		}
	}
}

func TestPlacementKeyRoundTrip(t *testing.T) {
	tests := []struct{ agent, id string }{
		{"node1-3f2a", "p-1"},
		{"a", "b"},
		{"host.example-7", "0123456789abcdef"},
	}
	for _, tc := range tests {
		k := PlacementKey(SchedulerPrefix, tc.agent, tc.id)
		if !strings.HasPrefix(k, AgentPlacementsPrefix(SchedulerPrefix, tc.agent)) {
			t.Errorf("%q is not under its agent's prefix", k)
		}
		a, id, ok := ParsePlacementKey(SchedulerPrefix, k)
		if !ok || a != tc.agent || id != tc.id {
			t.Errorf("ParsePlacementKey(%q) = %q, %q, %v; want %q, %q", k, a, id, ok, tc.agent, tc.id)
		}
	}
	// One agent's watch must not see another's whose id extends it.
	if strings.HasPrefix(PlacementKey(SchedulerPrefix, "node-10", "p"), AgentPlacementsPrefix(SchedulerPrefix, "node-1")) {
		t.Error("agent node-1's placements prefix covers node-10's")
	}
	for _, bad := range []string{
		"/ufop/sched/instances/x",
		"/ufop/sched/placements/agent",
		"/ufop/sched/placements//id",
		"/ufop/sched/placements/agent/",
		"/ufop/sched/placements/agent/id/more",
		"/other/placements/agent/id",
	} {
		if a, id, ok := ParsePlacementKey(SchedulerPrefix, bad); ok {
			t.Errorf("ParsePlacementKey(%q) = %q, %q, true; want not a placement key", bad, a, id)
		}
	}
}

func TestAgentKeyRoundTrip(t *testing.T) {
	for _, id := range []string{"a", "node1-3f2a"} {
		got, ok := AgentID(AgentsPrefix, AgentKey(AgentsPrefix, id))
		if !ok || got != id {
			t.Errorf("AgentID(AgentKey(%q)) = %q, %v", id, got, ok)
		}
	}
	if _, ok := AgentID(AgentsPrefix, AgentsPrefix); ok {
		t.Error("the bare prefix read as an agent key")
	}
	if _, ok := AgentID(AgentsPrefix, BuilderKey(BuildersPrefix, "x")); ok {
		t.Error("a builder key read as an agent key")
	}
}

func TestBuildResultRoundTrip(t *testing.T) {
	tests := []BuildResult{
		{UFOP: "my-ufop", Version: 3, State: ufop.BuildOK, Image: "ufop/my-ufop:v3"},
		{UFOP: "my-ufop", Version: 4, State: ufop.BuildFailed, Error: "step 2: exit 1\nmore"},
	}
	for _, r := range tests {
		line := r.Line()
		if !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
			t.Errorf("Line() = %q: want one line", line)
		}
		got, ok := ParseBuildResult(line)
		if !ok || got != r {
			t.Errorf("ParseBuildResult(%q) = %+v, %v; want %+v", line, got, ok, r)
		}
	}
	for _, line := range []string{"Step 1/3 : FROM scratch", BuildResultPrefix + "{not json", ""} {
		if _, ok := ParseBuildResult(line); ok {
			t.Errorf("ParseBuildResult(%q) accepted a log line", line)
		}
	}
}

func TestBuildPath(t *testing.T) {
	if got, want := BuildPath("my-ufop", 7), "/v1/build?ufop=my-ufop&version=7"; got != want {
		t.Errorf("BuildPath = %q, want %q", got, want)
	}
}

func TestClientConfigRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "ufopctl.json")
	c := ClientConfig{Endpoint: "http://127.0.0.1:9000", AdminEndpoint: "http://127.0.0.1:9001", AK: "ak", SK: "sk"}
	if err := SaveClientConfig(path, c); err != nil {
		t.Fatal(err)
	}
	got, err := LoadClientConfig(path)
	if err != nil || got != c {
		t.Fatalf("LoadClientConfig = %+v, %v; want %+v", got, err, c)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}
