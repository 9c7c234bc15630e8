package manifest

import "github.com/ufop/ufop"

// MinMemory is the least memory an instance or a build step may have: the
// Docker engine refuses less.
const MinMemory = minMemory

// Limits bound what a package may hold.
type Limits struct {
	// MaxPackageBytes caps the uploaded (compressed) package and, again,
	// the total size of its unpacked files.
	MaxPackageBytes int64
	// MaxFiles caps the number of entries in a package.
	MaxFiles int
	// DefaultResources fill the resources ufop.yaml leaves out.
	DefaultResources Resources
}

// DefaultLimits returns the defaults of SPEC §4.
func DefaultLimits() Limits {
	return Limits{
		MaxPackageBytes:  200 << 20,
		MaxFiles:         10000,
		DefaultResources: Resources{CPU: 1, Memory: 256 << 20, Pids: 128},
	}
}

// Validate reports the first unusable limit.
func (l Limits) Validate() error {
	switch {
	case l.MaxPackageBytes <= 0:
		return ufop.Errorf(ufop.KindInvalid, "builder: MaxPackageBytes must be positive, got %d", l.MaxPackageBytes)
	case l.MaxFiles <= 0:
		return ufop.Errorf(ufop.KindInvalid, "builder: MaxFiles must be positive, got %d", l.MaxFiles)
	case l.DefaultResources.CPU <= 0 || l.DefaultResources.Memory < minMemory || l.DefaultResources.Pids <= 0:
		return ufop.Errorf(ufop.KindInvalid, "builder: DefaultResources need positive cpu and pids and at least 6 MiB memory, got %+v", l.DefaultResources)
	}
	return nil
}
