package ufop

import "testing"

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 bytes"},
		{1, "1 byte"},
		{1023, "1023 bytes"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{4096, "4 KiB"},
		{50 << 20, "50 MiB"},
		{52_428_801, "50.1 MiB"}, // over 50 MiB never reads as 50
		{55 * 1000 * 1000, "52.5 MiB"},
		{1<<20 - 1, "1.0 MiB"}, // rounded up, and not whole: one decimal
		{200 << 20, "200 MiB"},
		{3 << 30, "3 GiB"},
		{1<<30 + 1<<29, "1.5 GiB"},
		{5 << 40, "5 TiB"},
	}
	for _, tc := range tests {
		if got := FormatBytes(tc.n); got != tc.want {
			t.Errorf("FormatBytes(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}
