// Package ufopctl is the command-line client of the platform (SPEC §6, §8)
// and the Go client of its admin API (SPEC §7). Main is the whole CLI;
// cmd/ufopctl only wires it to the process. Client is usable on its own by
// programs and tests that talk to a gateway.
package ufopctl

import "github.com/ufop/ufop/protocol"

// Config is what ufopctl needs to reach and sign for the platform. Its file
// format is a contract with ufopd up, which writes one for its admin, so
// the type lives in protocol.
type Config = protocol.ClientConfig

// LoadConfig reads a config file. A missing file is an error wrapping
// fs.ErrNotExist.
func LoadConfig(path string) (Config, error) { return protocol.LoadClientConfig(path) }

// SaveConfig writes c to path with mode 0600 (it holds a secret key),
// atomically: a crash leaves the old file or the new one, never half.
func SaveConfig(path string, c Config) error { return protocol.SaveClientConfig(path, c) }
