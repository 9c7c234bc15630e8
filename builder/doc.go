// Package builder turns a UFOP package (SPEC §4: a directory or .tar/.tar.gz
// with ufop.yaml at its root) into a Docker image tagged ufop/<name>:v<N>.
//
// It has two halves. ReadPackage and ReadDir read untrusted input and refuse,
// with a message naming the entry, anything that could reach outside the
// package (absolute paths, .. components, links leaving the package, device
// files), anything over the size and file-count limits, and a missing or
// invalid ufop.yaml. They stop reading at the limit and never follow links
// on the host. Builder.Build then generates a Dockerfile and builds it
// through the Engine API with the classic builder, network off, never
// pulling: the base image must already be on the engine.
//
// The image carries its manifest as JSON in the ufop.manifest label, so the
// container runtime reads limits, health check and concurrency from the image
// itself (see ImageManifest).
package builder
