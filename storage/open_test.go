package storage

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    Location
		wantErr string
	}{
		{"file:///var/ufop/objects", Location{Scheme: "file", Dir: "/var/ufop/objects"}, ""},
		{"file://data/objects", Location{Scheme: "file", Dir: "data/objects"}, ""},
		{"s3://photos", Location{Scheme: "s3", Bucket: "photos"}, ""},
		{"s3://photos/ufop/prod/?endpoint=http://127.0.0.1:7070&region=eu-west-1",
			Location{Scheme: "s3", Bucket: "photos", Prefix: "ufop/prod", Endpoint: "http://127.0.0.1:7070", Region: "eu-west-1"}, ""},
		{"S3://my.bucket-1?endpoint=https://s3.example:443", Location{Scheme: "s3", Bucket: "my.bucket-1", Endpoint: "https://s3.example:443"}, ""},
		{"", Location{}, "want file://DIR"},
		{"/var/objects", Location{}, "want file://DIR"},
		{"file://", Location{}, "directory is missing"},
		{"gs://b", Location{}, `unknown scheme "gs"`},
		{"s3://", Location{}, "S3 bucket name"},
		{"s3://Photos", Location{}, "S3 bucket name"},
		{"s3://-bad", Location{}, "must start and end"},
		{"s3://ak:sk@photos", Location{}, "no credentials"},
		{"s3://photos?endpoint=127.0.0.1:7070", Location{}, "endpoint"},
		{"s3://photos?endpoint=http://h/path", Location{}, "just scheme://host"},
		{"s3://photos?endpoint=http://u:p@h", Location{}, "no credentials"},
		{"s3://photos?endpoint=http://a&endpoint=http://b", Location{}, "given 2 times"},
		{"s3://photos?region=eu%20west", Location{}, "region"},
		{"s3://photos?bucket=x", Location{}, `unknown parameter "bucket"`},
		{"s3://photos/a//b", Location{}, "empty"},
		{"s3://photos/a/../b", Location{}, `".."`},
		{"s3://photos#frag", Location{}, "want s3://"},
		{"s3://photos\n", Location{}, "invalid characters"},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || ufop.KindOf(err) != ufop.KindInvalid {
				t.Errorf("ParseLocation(%q) = %+v, %v; want an invalid error containing %q", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

// FuzzParseLocation checks that the --storage URL parser never panics,
// fails only with KindInvalid, and that what it accepts survives a round
// trip through Location.String.
func FuzzParseLocation(f *testing.F) {
	for _, s := range []string{
		"file:///var/objects", "file://rel/dir", "s3://photos", "s3://photos/p/q?endpoint=http://127.0.0.1:9000&region=us-east-1",
		"s3://a.b-c/%2F?endpoint=https://[::1]:1", "s3://x", "gs://b", "s3://ak:sk@b", "s3://b?endpoint=http://h/p", "s3://b/../c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		l, err := ParseLocation(raw)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("ParseLocation(%q): error %v has kind %v", raw, err, ufop.KindOf(err))
			}
			return
		}
		switch l.Scheme {
		case "file":
			if l.Dir == "" {
				t.Fatalf("ParseLocation(%q) accepted an empty dir", raw)
			}
		case "s3":
			if validateS3BucketName(l.Bucket) != nil || validateS3Prefix(l.Prefix) != nil {
				t.Fatalf("ParseLocation(%q) accepted %+v", raw, l)
			}
			if l.Endpoint != "" && validateS3Endpoint(l.Endpoint) != nil {
				t.Fatalf("ParseLocation(%q) accepted endpoint %q", raw, l.Endpoint)
			}
		default:
			t.Fatalf("ParseLocation(%q) gave scheme %q", raw, l.Scheme)
		}
		again, err := ParseLocation(l.String())
		if err != nil || again != l {
			t.Fatalf("round trip of %q: %q gives %+v, %v; want %+v", raw, l.String(), again, err, l)
		}
	})
}
