// Package protocol is the one home of what crosses process boundaries: the
// etcd key layout, the internal HTTP API between gateways, agents and
// builders (paths, headers, bodies), the NATS stream and subjects, and the
// ufopctl config file. Every side of a boundary uses these names, so a
// change is made once and checked together (protocol_test.go).
//
// It is a leaf: it imports only the root package ufop and the standard
// library, so any role (or the CLI) can use it without linking another.
// The manifest schema (ufop.yaml) lives in package manifest.
package protocol
