package platform_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"

	"github.com/ufop/ufop/container"
	"github.com/ufop/ufop/internal/testenv"
)

// TestUFOPInstanceCrash is issue 15's point 1: a request whose instance
// exits mid-request gets a 502 soon after the death, not the gateway's
// 504 at its 30 s deadline; the job is tried once more on another
// instance, and a second death is the answer.
func TestUFOPInstanceCrash(t *testing.T) {
	needImages(t)
	testenv.RequireDocker(t)
	docker := dockerClient(t)
	name := uniqueName("test-crash")
	removeContainersLater(t, docker, name)
	_, a := slowPlatform(t, name, 1)

	// A correctness bound far below the gateway's 30 s deadline, not a
	// speed target.
	const bound = 10 * time.Second
	hc := &http.Client{Timeout: time.Minute}
	tests := []struct {
		instances int
		deaths    int // instances that die: the first and its one retry
	}{
		{instances: 1, deaths: 2}, // the retry goes to the restarted instance
		{instances: 2, deaths: 2}, // the retry goes to the other instance
	}
	for _, tt := range tests {
		a.do(http.MethodPut, "/v1/ufops/"+name+"/instances", map[string]int{"instances": tt.instances}, nil)
		testenv.Eventually(t, 90*time.Second, func() bool {
			st := a.state(name)
			return len(st.Instances) == tt.instances && a.healthy(name, 1) == tt.instances
		}, "%d healthy instances", tt.instances)
		before := restarts(a, name)

		start := time.Now()
		resp, err := hc.Get(a.base + "/pics/small.jpg?" + name + "/crash")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		t.Logf("%d instances: crash answered %s after %s", tt.instances, resp.Status, took.Round(time.Millisecond))
		if resp.StatusCode != http.StatusBadGateway || took > bound {
			t.Errorf("%d instances: crash answered %s after %s, want 502 Bad Gateway within %s: %.300s", tt.instances, resp.Status, took, bound, body)
		}
		// Exactly one more try: two deaths, not three.
		testenv.Eventually(t, 60*time.Second, func() bool { return restarts(a, name)-before >= tt.deaths && a.healthy(name, 1) == tt.instances },
			"%d deaths and the instances back", tt.deaths)
		if got := restarts(a, name) - before; got != tt.deaths {
			t.Errorf("%d instances: %d instance deaths for one crashing request, want %d", tt.instances, got, tt.deaths)
		}
		// The survivors (restarted) serve.
		resp, err = hc.Get(a.base + "/pics/small.jpg?" + name + "/0")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%d instances: a request after the crash answered %s", tt.instances, resp.Status)
		}
	}
	// The dead containers were removed, not left exited.
	testenv.Eventually(t, 30*time.Second, func() bool {
		cs, err := docker.ContainerList(context.Background(), dcontainer.ListOptions{All: true,
			Filters: filters.NewArgs(filters.Arg("label", container.LabelName+"="+name), filters.Arg("status", "exited"))})
		return err == nil && len(cs) == 0
	}, "no exited container of %s left", name)
}
