package gateway_test

import (
	"net/http"
	"testing"
)

// TestDeleteBucketForce: DELETE /v1/buckets/<b> refuses a bucket with
// objects (409); with ?force=1 it deletes the objects, then the bucket.
func TestDeleteBucketForce(t *testing.T) {
	c := newCluster(t, 0)
	c.mustAdmin(http.MethodPut, "/v1/buckets/full", nil)
	for _, k := range []string{"a.jpg", "b/c.jpg", "d e.txt"} {
		c.mustAdmin(http.MethodPut, "/v1/objects/full/"+k, []byte("x"))
	}
	resp := c.admin(http.MethodDelete, "/v1/buckets/full", nil, c.ak, c.sk)
	resp.Body.Close()
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("delete without force: %s, want 409", resp.Status)
	}
	c.mustAdmin(http.MethodDelete, "/v1/buckets/full?force=1", nil)
	resp = c.admin(http.MethodGet, "/v1/buckets/full", nil, c.ak, c.sk)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("bucket after force delete: %s, want 404", resp.Status)
	}
	// The name is free again, and the new bucket starts empty.
	c.mustAdmin(http.MethodPut, "/v1/buckets/full", nil)
	if resp, _ := c.get("/full/a.jpg"); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("old object served from the new bucket: %s", resp.Status)
	}
}
