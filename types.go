package ufop

import "time"

// Object describes one stored object.
type Object struct {
	Bucket      string    `json:"bucket"`
	Key         string    `json:"key"`
	Size        int64     `json:"size"`
	ETag        string    `json:"etag"` // hex SHA-256 of the content, unquoted
	ContentType string    `json:"contentType"`
	Modified    time.Time `json:"modified"`
}

// Bucket is a bucket's metadata, kept in the catalog.
type Bucket struct {
	Name    string    `json:"name"`
	Owner   string    `json:"owner"`
	Private bool      `json:"private"`
	Created time.Time `json:"created"`
	// Referers, when not empty, is the allow-list of Referer host patterns
	// ("example.com", "*.example.com") for downloads.
	Referers []string `json:"referers,omitempty"`
	// AllowEmptyReferer lets requests without a Referer through when
	// Referers is set.
	AllowEmptyReferer bool `json:"allowEmptyReferer,omitempty"`
	// Mirror is an origin URL: a missing key is fetched from there.
	Mirror string `json:"mirror,omitempty"`
	// MaxAge is the Cache-Control max-age for public downloads.
	MaxAge time.Duration `json:"maxAge,omitempty"`
	// StyleSep are the characters that may join a key and a style name in
	// a download path (KEY<c>NAME, docs/styles.md); empty: none.
	StyleSep string `json:"styleSep,omitempty"`
	// ProtectOriginal makes the original objects and arbitrary fops need a
	// signed URL of the owner or an admin; styles stay public.
	ProtectOriginal bool `json:"protectOriginal,omitempty"`
}

// Tier is a user's service tier: it picks default limits and queue
// admission.
type Tier string

// The tiers.
const (
	TierFree Tier = "free"
	TierPaid Tier = "paid"
)

// User is an account. Its secret keys are not part of this type: they live
// in the catalog only.
type User struct {
	Name    string    `json:"name"`
	Tier    Tier      `json:"tier"`
	Admin   bool      `json:"admin"`
	Keys    []string  `json:"keys"` // access keys (AK), newest first
	Created time.Time `json:"created"`
}

// Source points an agent at the bytes a request processes.
type Source struct {
	Bucket      string `json:"bucket"`
	Key         string `json:"key"`
	ETag        string `json:"etag"`
	Size        int64  `json:"size"`
	ContentType string `json:"contentType"`
	// URL is where the agent fetches the bytes from (the gateway's internal
	// object endpoint, signed), when they are not in its cache.
	URL string `json:"url"`
}

// Agent is what an agent publishes about itself in the discovery registry.
type Agent struct {
	ID   string `json:"id"`
	Addr string `json:"addr"` // base URL of its internal API, http://host:port
	// Ops are the built-in fops it runs.
	Ops []string `json:"ops"`
	// UFOPs are the custom fops it hosts a healthy instance of.
	UFOPs []string `json:"ufops,omitempty"`
	// Slots is how many UFOP instances it can host; 0 when it has no
	// container runtime.
	Slots   int       `json:"slots,omitempty"`
	Load    Load      `json:"load"`
	Started time.Time `json:"started"`
}

// Load is an agent's current work, updated every few seconds.
type Load struct {
	Running  int `json:"running"`  // jobs being processed
	Queued   int `json:"queued"`   // jobs waiting for a worker
	Workers  int `json:"workers"`  // size of the worker pool
	MaxQueue int `json:"maxQueue"` // bound of the wait queue
}

// Overloaded reports whether the agent's wait queue is full.
func (l Load) Overloaded() bool { return l.MaxQueue > 0 && l.Queued >= l.MaxQueue }

// ObjectRef names a stored object.
type ObjectRef struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
}

// Job is one processing request handed to an agent: over HTTP for
// built-in pipelines, through the work queue for pipelines with UFOPs.
type Job struct {
	// ID identifies the job (the request id); the queue dedupes on it.
	ID     string `json:"id,omitempty"`
	Source Source `json:"source"`
	// Fops is the normalized pipeline.
	Fops string `json:"fops"`
	// Owner is the bucket's owner, whose tier decides queue admission.
	Owner string `json:"owner"`
	Tier  Tier   `json:"tier"`
	Reqid string `json:"reqid"`
	// Deadline is when the gateway gives up on the request; a job found
	// past it is dropped, not processed for nobody.
	Deadline time.Time `json:"deadline"`
	// ObjectsURL is the base URL of the gateway's internal object
	// endpoint, for watermark images.
	ObjectsURL string `json:"objectsURL"`
	// Refs maps each other image the pipeline reads (watermark images, as
	// written in Fops) to the object the gateway resolved it to after
	// checking that the requester may read it. A reference missing here is
	// not to be read.
	Refs map[string]ObjectRef `json:"refs,omitempty"`
	// Grant is the gateway's capability for the objects this job may read
	// (the source and Refs): agents send it, opaque, with every fetch from
	// the internal object endpoint (header X-Ufop-Grant), which serves
	// nothing it does not cover.
	Grant string `json:"grant,omitempty"`
	// Reply is the subject the result goes to (queued jobs).
	Reply string `json:"reply,omitempty"`
}
