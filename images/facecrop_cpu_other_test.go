//go:build !unix

package images

import "testing"

// reportCPU is a no-op where getrusage is not available.
func reportCPU(*testing.B) {}
