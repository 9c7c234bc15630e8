// Package builder turns a UFOP package, read and validated by package
// manifest, into a Docker image tagged ufop/<name>:v<N>, and runs the
// builder role (Service) that gateways hand packages to.
//
// Three parts, one file each: dockerfile.go generates the Dockerfile and
// the build context from a manifest (pure, no engine); builder.go checks the
// base image (base.go) and builds through the Engine API with the classic
// builder, network off, never pulling: the base image must already be on the
// engine; service.go is the role (registration in etcd, the build endpoint,
// versions in the catalog). Package reading and the ufop.yaml schema live in
// package manifest, which ufopctl uses without linking Docker.
//
// The image carries its manifest as JSON in the ufop.manifest label, so the
// container runtime reads limits, health check and concurrency from the
// image itself (manifest.ImageManifest).
package builder
