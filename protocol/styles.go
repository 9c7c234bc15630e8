package protocol

import "time"

// TableStyles is the catalog table of named styles: one row per style,
// named <bucket>/<style>.
const TableStyles = "styles/"

// Style is a bucket's named pipeline (SPEC §12): the answer of PUT and GET
// /v1/buckets/<bucket>/styles[/<name>].
type Style struct {
	Bucket  string    `json:"bucket"`
	Name    string    `json:"name"`
	Fops    string    `json:"fops"`
	Updated time.Time `json:"updated"`
}

// StyleSet is the body of PUT /v1/buckets/<bucket>/styles/<name>.
type StyleSet struct {
	Fops string `json:"fops"`
}

// BucketChange is the body of PATCH /v1/buckets/<name>: the fields given
// change, the others keep their value. StyleSep "" turns KEY<c>NAME off.
type BucketChange struct {
	StyleSep        *string `json:"styleSep,omitempty"`
	ProtectOriginal *bool   `json:"protectOriginal,omitempty"`
}
