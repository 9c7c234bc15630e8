// Package manifest reads and validates UFOP packages (SPEC §4: a directory
// or .tar/.tar.gz with ufop.yaml at its root) and their manifest schema. It
// links no Docker or etcd client, so ufopctl checks a package before upload
// with the very code the gateway and the builder run.
//
// ReadPackage and ReadDir read untrusted input and refuse, with a message
// naming the entry, anything that could reach outside the package (absolute
// paths, .. components, links leaving the package, device files), anything
// over the size and file-count limits, and a missing or invalid ufop.yaml.
// They stop reading at the limit and never follow links on the host.
//
// A built image carries its manifest as JSON in the ufop.manifest label, so
// the container runtime reads limits, health check and concurrency from the
// image itself (see ImageManifest).
package manifest
