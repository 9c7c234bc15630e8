package ufop

import (
	"math"
	"strconv"
)

// FormatBytes renders a byte count for messages, in binary units as SPEC
// states its limits: "900 bytes", "4 KiB", "52.4 MiB", "1.5 GiB". Whole
// multiples have no decimals; other sizes one, rounded up, so that a size
// over a limit never reads as the limit ("50.1 MiB, over the 50 MiB
// limit").
func FormatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		if n == 1 {
			return "1 byte"
		}
		return strconv.FormatInt(n, 10) + " bytes"
	}
	v, units := float64(n)/unit, []string{" KiB", " MiB", " GiB", " TiB"}
	// Move up while the value, rounded up to a tenth, reaches 1024.
	for len(units) > 1 && math.Ceil(v*10)/10 >= unit {
		v, units = v/unit, units[1:]
	}
	if v == math.Trunc(v) {
		return strconv.FormatFloat(v, 'f', 0, 64) + units[0]
	}
	return strconv.FormatFloat(math.Ceil(v*10)/10, 'f', 1, 64) + units[0]
}
