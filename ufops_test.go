package ufop

import "testing"

func TestValidUFOPName(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"thumb", true},
		{"a_b-c", true},
		{"abcdefghij0123456789", true},   // 20
		{"abcd", false},                  // 4
		{"abcdefghij0123456789x", false}, // 21
		{"Thumb", false},
		{"thu.mb", false},
		{"thumb/x", false},
		{"thümb", false},
		{"", false},
		{"-----", true},
	}
	for _, tt := range tests {
		if got := ValidUFOPName(tt.name); got != tt.want {
			t.Errorf("ValidUFOPName(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
}
