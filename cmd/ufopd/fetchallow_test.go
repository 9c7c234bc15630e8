package main

import (
	"flag"
	"io"
	"net/netip"
	"testing"

	"github.com/ufop/ufop/gateway"
	"github.com/ufop/ufop/platform"
)

// TestFetchAllowFlag: --fetch-allow reaches the gateway's config on both
// roles that fetch user URLs (up and gateway), and garbage is refused.
func TestFetchAllowFlag(t *testing.T) {
	pc, gc := platform.DefaultConfig(), gateway.DefaultConfig()
	for _, tc := range []struct {
		dst  *[]netip.Prefix
		args []string
		want []netip.Prefix
		ok   bool
	}{
		{&pc.Gateway.FetchAllow, []string{"--fetch-allow", "127.0.0.1/32, 10.0.0.0/8"},
			[]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8")}, true},
		{&gc.FetchAllow, []string{"--fetch-allow=::1"}, []netip.Prefix{netip.MustParsePrefix("::1/128")}, true},
		{&gc.FetchAllow, []string{"--fetch-allow", "10.0.0.0/33"}, nil, false},
		{&gc.FetchAllow, []string{"--fetch-allow", "localhost"}, nil, false},
	} {
		*tc.dst = nil
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		fetchAllowFlag(fs, tc.dst)
		err := fs.Parse(tc.args)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err %v", tc.args, err)
			continue
		}
		if len(*tc.dst) != len(tc.want) {
			t.Errorf("%v: got %v, want %v", tc.args, *tc.dst, tc.want)
			continue
		}
		for i := range tc.want {
			if (*tc.dst)[i] != tc.want[i] {
				t.Errorf("%v: got %v, want %v", tc.args, *tc.dst, tc.want)
			}
		}
	}
}
