package main

import (
	"flag"
	"net/netip"

	"github.com/ufop/ufop/egress"
)

const fetchAllowHelp = "comma-separated CIDRs (or addresses) that URLs fetched on a user's behalf, like mirror origins, pfop notify URLs and migration sources, may reach although they are loopback, private or link-local (default: none; public addresses are always allowed)"

// fetchAllowFlag registers --fetch-allow, parsed into *dst by
// egress.ParseAllow.
func fetchAllowFlag(fs *flag.FlagSet, dst *[]netip.Prefix) {
	fs.Func("fetch-allow", fetchAllowHelp, func(v string) error {
		p, err := egress.ParseAllow(v)
		if err != nil {
			return err
		}
		*dst = p
		return nil
	})
}
