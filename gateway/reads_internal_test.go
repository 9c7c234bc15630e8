package gateway

import (
	"strings"
	"testing"
	"time"

	"github.com/ufop/ufop"
)

func TestReadGrant(t *testing.T) {
	key, other := grantKey("token-a"), grantKey("token-b")
	now := time.Unix(1_800_000_000, 0)
	src, mark := ufop.ObjectRef{Bucket: "pub", Key: "a/b.jpg"}, ufop.ObjectRef{Bucket: "priv", Key: "m.png"}
	g := mintGrant(key, []ufop.ObjectRef{src, mark}, now.Add(time.Minute))
	payload, sig, _ := strings.Cut(g, ".")
	forged := mintGrant(key, []ufop.ObjectRef{src}, now.Add(time.Minute))
	fp, _, _ := strings.Cut(forged, ".")
	for _, tc := range []struct {
		name  string
		key   []byte
		grant string
		o     ufop.ObjectRef
		at    time.Time
		ok    bool
	}{
		{"source", key, g, src, now, true},
		{"mark", key, g, mark, now, true},
		{"not granted", key, g, ufop.ObjectRef{Bucket: "priv", Key: "other.png"}, now, false},
		{"bucket and key split elsewhere", key, g, ufop.ObjectRef{Bucket: "pub/a", Key: "b.jpg"}, now, false},
		{"expired", key, g, src, now.Add(2 * time.Minute), false},
		{"other cluster", other, g, src, now, false},
		{"none", key, "", src, now, false},
		{"payload swapped", key, fp + "." + sig, src, now, false},
		{"no signature", key, payload, src, now, false},
	} {
		err := checkGrant(tc.key, tc.grant, tc.o, tc.at)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && ufop.KindOf(err) != ufop.KindPermission {
			t.Errorf("%s: kind %v", tc.name, ufop.KindOf(err))
		}
	}
}
