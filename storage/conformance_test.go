package storage_test

import (
	"context"
	"testing"

	"github.com/ufop/ufop/internal/testenv"
	"github.com/ufop/ufop/storage"
	"github.com/ufop/ufop/storage/storetest"
)

func TestDiskConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, max int64) storage.Store {
		s, err := storage.New(storage.Config{Dir: t.TempDir(), MaxObjectBytes: max}, testenv.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// newS3 opens an S3 store on a fresh bucket of a real S3 server, with the
// smallest part size so that the suite's big objects go up in parts.
func newS3(t *testing.T, max int64) (*storage.S3, testenv.S3Server) {
	t.Helper()
	srv := testenv.S3(t)
	s, err := storage.NewS3(context.Background(), storage.S3Config{
		Bucket: srv.Bucket, Prefix: "ufop/objects", Endpoint: srv.Endpoint,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
		MaxObjectBytes: max, PartSize: 5 << 20,
	}, testenv.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, srv
}

func TestS3Conformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, max int64) storage.Store {
		s, _ := newS3(t, max)
		return s
	})
}
