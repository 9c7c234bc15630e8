package auth_test

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/ufop/ufop/auth"
)

func ExampleSignURL() {
	expires := time.Unix(1700000000, 0)
	u, _ := auth.SignURL("http://127.0.0.1:9000/pics/a%20b.jpg?imageView2/1/w/200", "AK", "secret", expires)
	fmt.Println(u)

	secretOf := func(ak string) (string, error) { return "secret", nil }
	ak, err := auth.VerifyURL(u, secretOf, expires.Add(-time.Minute))
	fmt.Println(ak, err)
	_, err = auth.VerifyURL(u, secretOf, expires.Add(time.Minute))
	fmt.Println(err)
	// Output:
	// http://127.0.0.1:9000/pics/a%20b.jpg?imageView2/1/w/200&e=1700000000&token=AK:4CknEHuPWJ8uPPOfo1lM6TAMYyw=
	// AK <nil>
	// token expired
}

func ExampleSignRequest() {
	r, _ := http.NewRequest("GET", "http://127.0.0.1:9000/v1/buckets", nil)
	now := time.Unix(1700000000, 0)
	auth.SignRequest(r, "AK", "secret", auth.EmptyBodyHash, now)
	// The target gains ts= and a random nonce=; both are signed.
	target, nonce, _ := strings.Cut(r.URL.RequestURI(), "&nonce=")
	fmt.Println(target, len(nonce))

	// The server side, with the target as received.
	cred, _ := auth.ParseAuthorization(r.Header.Get("Authorization"))
	fmt.Println(auth.VerifyRequest(r.Method, r.URL.RequestURI(), auth.EmptyBodyHash, cred, "secret", now, 0))
	// Output:
	// /v1/buckets?ts=1700000000 16
	// <nil>
}
