package catalog

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"errors"
	"fmt"
)

// sealer encrypts secret keys at rest with the master key (AES-256-GCM);
// etcd never holds a usable secret.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (sealer, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return sealer{}, fmt.Errorf("catalog: master key: %w", err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return sealer{}, fmt.Errorf("catalog: master key: %w", err)
	}
	return sealer{aead: aead}, nil
}

// Seal encrypts plain, binding it to context (the access key) so a sealed
// secret cannot be moved to another key's row.
func (s sealer) Seal(plain, context []byte) []byte {
	if s.aead == nil {
		panic("catalog: sealing a secret needs a master key")
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return s.aead.Seal(nonce, nonce, plain, context)
}

func (s sealer) Open(sealed, context []byte) ([]byte, error) {
	if s.aead == nil {
		return nil, errors.New("catalog: this process has no master key to open secrets")
	}
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("catalog: sealed secret too short")
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], context)
	if err != nil {
		return nil, errors.New("catalog: sealed secret does not open with this master key")
	}
	return plain, nil
}
