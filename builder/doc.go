// Package builder turns a UFOP package, read and validated by package
// manifest, into a Docker image tagged ufop/<name>:v<N>, and runs the
// builder role (Service) that gateways hand packages to.
//
// Builder.Build generates a Dockerfile (Dockerfile) and builds it through
// the Engine API with the classic builder, network off, never pulling: the
// base image must already be on the engine. The image carries its manifest
// as JSON in the ufop.manifest label, so the container runtime reads limits,
// health check and concurrency from the image itself
// (manifest.ImageManifest).
package builder
