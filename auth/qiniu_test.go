package auth

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/ufop/ufop"
)

// sdkSign is Qiniu's documented signing algorithm written out
// independently of qiniu.go: the SDK's "<AK>:<urlsafe_b64(hmac_sha1)>"
// over the data of a QBox or Qiniu (v2) management request.
func sdkSign(scheme, ak, sk, method, path, rawQuery, host string, hdr http.Header, body string) string {
	var data string
	pq := path
	if rawQuery != "" {
		pq += "?" + rawQuery
	}
	ct := hdr.Get("Content-Type")
	if scheme == "QBox" {
		data = pq + "\n"
		if ct == "application/x-www-form-urlencoded" {
			data += body
		}
	} else {
		if ct == "" {
			ct = "application/x-www-form-urlencoded"
		}
		data = method + " " + pq + "\nHost: " + host + "\nContent-Type: " + ct + "\n"
		type kv struct{ k, v string }
		var xs []kv
		for name := range hdr {
			if len(name) > 8 && strings.HasPrefix(name, "X-Qiniu-") {
				xs = append(xs, kv{http.CanonicalHeaderKey(name), hdr.Get(name)})
			}
		}
		sort.Slice(xs, func(i, j int) bool { return xs[i].k < xs[j].k || (xs[i].k == xs[j].k && xs[i].v < xs[j].v) })
		for _, x := range xs {
			data += x.k + ": " + x.v + "\n"
		}
		data += "\n"
		if ct == "application/x-www-form-urlencoded" || ct == "application/json" {
			data += body
		}
	}
	m := hmac.New(sha1.New, []byte(sk))
	m.Write([]byte(data))
	return ak + ":" + base64.URLEncoding.EncodeToString(m.Sum(nil))
}

// The vectors are from Qiniu's Go SDK tests (auth/credentials_test.go,
// ak "ak", sk "sk"); the SDK builds these requests with an empty method
// (GET) and, for v2, signs the request's Host.
func TestQiniuSDKVectors(t *testing.T) {
	form := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	jsonH := http.Header{"Content-Type": {"application/json"}}
	xq := func(ct string) http.Header {
		h := http.Header{"X-Qiniu-BBB": {"BBB", "AAA"}, "X-Qiniu-AAA": {"DDD", "CCC"}, "X-Qiniu-": {"a"}, "X-Qiniu": {"b"}}
		if ct != "" {
			h["Content-Type"] = []string{ct}
		}
		return h
	}
	tests := []struct {
		name, scheme, method, host string
		hdr                        http.Header
		body, want                 string
	}{
		{"qbox json body unsigned", "QBox", "GET", "", jsonH, `{"name": "test"}`, "ak:qfWnqF1E_vfzjZnReCVkcSMl29M="},
		{"qbox form body signed", "QBox", "GET", "upload.qiniup.com", form, `name=test&language=go`, "ak:h8gBb1Adb2Jgoys1N8sRVAnNvpw="},
		{"v2 default content type", "Qiniu", "GET", "", http.Header{"X-Qiniu-": {"a"}, "X-Qiniu": {"b"}}, `{"name": "test"}`, "ak:0i1vKClRDWFyNkcTFzwcE7PzX74="},
		{"v2 json", "Qiniu", "GET", "", jsonH, `{"name": "test"}`, "ak:K1DI0goT05yhGizDFE5FiPJxAj4="},
		{"v2 post json", "Qiniu", "POST", "", jsonH, `{"name": "test"}`, "ak:0ujEjW_vLRZxebsveBgqa3JyQ-w="},
		{"v2 host", "Qiniu", "GET", "upload.qiniup.com", http.Header{"X-Qiniu-": {"a"}, "X-Qiniu": {"b"}}, `{"name": "test"}`, "ak:GShw5NitGmd5TLoo38nDkGUofRw="},
		{"v2 x-qiniu headers json", "Qiniu", "GET", "upload.qiniup.com", xq("application/json"), `{"name": "test"}`, "ak:-fB4yn26QtKrW3jb_owJha4-W1I="},
		{"v2 x-qiniu headers form", "Qiniu", "GET", "upload.qiniup.com", xq("application/x-www-form-urlencoded"), `name=test&language=go`, "ak:PSssnOFa3sUvpEjTfACJ9WWKBS4="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := sdkSign(tc.scheme, "ak", "sk", tc.method, "", "", tc.host, tc.hdr, tc.body); got != tc.want {
				t.Errorf("test signer = %s, want the SDK's %s", got, tc.want)
			}
			if got := SignQiniu(tc.scheme, "ak", "sk", tc.method, "", tc.host, tc.hdr, []byte(tc.body)); got != tc.scheme+" "+tc.want {
				t.Errorf("SignQiniu = %s, want %s %s", got, tc.scheme, tc.want)
			}
		})
	}
}

func TestVerifyQiniu(t *testing.T) {
	const ak, sk = "AKTEST", "secret"
	body := "bucket=pics&key=a.jpg&fops=imageInfo&notifyURL=&force=&pipeline="
	tests := []struct {
		name    string
		scheme  string
		sk      string
		tamper  func(r *http.Request) string // returns the body the server sees
		wantErr bool
	}{
		{"qbox", "QBox", sk, nil, false},
		{"qiniu", "Qiniu", sk, nil, false},
		{"qbox wrong secret", "QBox", "other", nil, true},
		{"qiniu wrong secret", "Qiniu", "other", nil, true},
		{"qbox body changed", "QBox", sk, func(*http.Request) string { return body + "x" }, true},
		{"qiniu host changed", "Qiniu", sk, func(r *http.Request) string { r.Host = "evil.example"; return body }, true},
		{"qiniu method changed", "Qiniu", sk, func(r *http.Request) string { r.Method = "PUT"; return body }, true},
		{"qbox query changed", "QBox", sk, func(r *http.Request) string { r.URL.RawQuery = "x=1"; return body }, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "http://127.0.0.1:9000/pfop/", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", tc.scheme+" "+sdkSign(tc.scheme, ak, tc.sk, r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Header, body))
			seen := body
			if tc.tamper != nil {
				seen = tc.tamper(r)
			}
			cred, err := ParseQiniuAuthorization(r.Header.Get("Authorization"))
			if err != nil {
				t.Fatal(err)
			}
			err = VerifyQiniu(r, []byte(seen), cred, sk)
			if (err != nil) != tc.wantErr {
				t.Fatalf("VerifyQiniu = %v, want error %v", err, tc.wantErr)
			}
			if err != nil && ufop.KindOf(err) != ufop.KindUnauthenticated {
				t.Errorf("kind %v, want unauthenticated", ufop.KindOf(err))
			}
		})
	}
}

func TestParseQiniuAuthorization(t *testing.T) {
	for _, h := range []string{"", "QBox", "QBox ak", "UFOP ak:" + strings.Repeat("A", 28), "qbox ak:" + strings.Repeat("A", 28), "QBox :x", "Qiniu ak:short"} {
		if _, err := ParseQiniuAuthorization(h); ufop.KindOf(err) != ufop.KindUnauthenticated {
			t.Errorf("%q: %v, want unauthenticated", h, err)
		}
	}
	c, err := ParseQiniuAuthorization("Qiniu ak:0ujEjW_vLRZxebsveBgqa3JyQ-w=")
	if err != nil || c.Scheme != "Qiniu" || c.AK != "ak" || len(c.Sig) != 20 {
		t.Fatalf("parse = %+v, %v", c, err)
	}
}
