package container

import (
	"strings"
	"testing"
	"time"
)

// FuzzSpec feeds manifest-derived values (user input) through Validate and,
// when accepted, checks that the container config carries them intact: env
// entries split back into the same pairs, and the labels rebuild the same
// Instance after an agent restart.
func FuzzSpec(f *testing.F) {
	f.Add("thumbs", 1, "ufop/thumbs:v1", "MODE", "fast", 0.5, int64(128<<20), int64(64), "/health", int64(3e9), 4)
	f.Add("a_b-c", 3, "ufop/a_b-c:v3", "X", "a=b=c", 0.0, int64(0), int64(0), "", int64(0), 0)
	f.Add("bad name", 0, "", "A=B", "\x00", -1.0, int64(-1), int64(-1), "health", int64(-1), -1)
	f.Add("thumbs", 1, "img", "PORT_HTTP", "1", 300.0, int64(1024), int64(1<<30), "/h#x", int64(1), 1)
	f.Fuzz(func(t *testing.T, name string, version int, img, key, val string, cpu float64, mem, pids int64, hpath string, htimeout int64, conc int) {
		cfg := Config{AgentID: "fuzz"}.withDefaults()
		s := Spec{Name: name, Version: version, Image: img, Env: map[string]string{key: val}, CPU: cpu, Memory: mem, Pids: pids,
			HealthPath: hpath, HealthTimeout: time.Duration(htimeout), Concurrency: conc}.withDefaults(cfg)
		if err := s.Validate(); err != nil {
			return
		}
		r := &Runtime{cfg: cfg}
		cc, hc, nc := r.containerConfig(s, "0123456789abcdef")
		if cc.Env[0] != "PORT_HTTP=9100" || len(cc.Env) != 2 {
			t.Fatalf("env %q", cc.Env)
		}
		k, v, _ := strings.Cut(cc.Env[1], "=")
		if k != key || v != val {
			t.Fatalf("env entry %q does not split back into %q=%q", cc.Env[1], key, val)
		}
		if hc.Resources.Memory <= 0 || hc.Resources.MemorySwap != hc.Resources.Memory || *hc.Resources.PidsLimit <= 0 || hc.Resources.NanoCPUs < 0 ||
			!hc.ReadonlyRootfs || hc.Privileged || len(hc.Binds) != 0 || len(nc.EndpointsConfig) != 1 {
			t.Fatalf("unsafe host config for %+v: %+v", s, hc)
		}
		inst, err := instanceFromLabels(cc.Labels)
		if err != nil {
			t.Fatalf("labels %v: %v", cc.Labels, err)
		}
		if inst.Name != s.Name || inst.Version != s.Version || inst.HealthPath != s.HealthPath ||
			inst.HealthTimeout != s.HealthTimeout || inst.Concurrency != s.Concurrency {
			t.Fatalf("labels rebuild %+v from %+v", inst, s)
		}
	})
}

// FuzzInstanceFromLabels: labels of containers found on the engine may have
// been written by anyone with engine access; adoption must not trust them
// into unusable values.
func FuzzInstanceFromLabels(f *testing.F) {
	f.Add("0123456789abcdef", "thumbs", "3", "/health", "3s", "4")
	f.Add("", "", "", "", "", "")
	f.Add("x", "y", "-1", "nope", "-5s", "0")
	f.Add("x", "y", "99999999999999999999", "/", "1h", "-2")
	f.Fuzz(func(t *testing.T, id, name, version, hpath, htimeout, conc string) {
		inst, err := instanceFromLabels(map[string]string{
			LabelInstance: id, LabelName: name, LabelVersion: version,
			LabelHealthPath: hpath, LabelHealthTimeout: htimeout, LabelConcurrency: conc,
		})
		if err != nil {
			return
		}
		if inst.ID == "" || inst.Name == "" || !strings.HasPrefix(inst.HealthPath, "/") || inst.HealthTimeout <= 0 || inst.Concurrency < 1 {
			t.Fatalf("unusable instance %+v", inst)
		}
	})
}
