package gateway

import (
	"strings"
	"testing"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/fop"
)

func TestParsePfopFops(t *testing.T) {
	tests := []struct {
		fops  string
		n     int
		saves []string // bucket:key per pipeline, "" without saveas
		word  string   // in the error, when one is expected
	}{
		{"imageInfo", 1, []string{""}, ""},
		{" imageInfo ; exif ", 2, []string{"", ""}, ""},
		{"imageView2/2/w/10|saveas/cGljczphLmpwZw==;imageInfo", 2, []string{"pics:a.jpg", ""}, ""},
		{"imageView2/2/w/10|saveas/cGljczphLmpwZw", 1, []string{"pics:a.jpg"}, ""},
		{"imageInfo;", 0, nil, "pipeline 2 is empty"},
		{"imageView2/7", 0, nil, "imageView2"},
		{"imageInfo|saveas/%%%", 0, nil, "saveas"},
		{"imageInfo|saveas/bm9jb2xvbg", 0, nil, "saveas"},
		{strings.Repeat("imageInfo;", 20) + "imageInfo", 0, nil, "more than 20 pipelines"},
	}
	for _, tc := range tests {
		cmds, ps, err := parsePfopFops(tc.fops, fop.DefaultMaxSteps, 20)
		if tc.word != "" {
			if ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(ufop.Message(err), tc.word) {
				t.Errorf("%q: %v, want invalid naming %q", tc.fops, err, tc.word)
			}
			continue
		}
		if err != nil || len(ps) != tc.n || len(cmds) != tc.n {
			t.Fatalf("%q: %d pipelines, %v", tc.fops, len(ps), err)
		}
		for i, p := range ps {
			got := ""
			if p.SaveAs != nil {
				got = p.SaveAs.Bucket + ":" + p.SaveAs.Key
			}
			if got != tc.saves[i] {
				t.Errorf("%q pipeline %d saves to %q, want %q", tc.fops, i, got, tc.saves[i])
			}
		}
	}
}

func TestPersistentID(t *testing.T) {
	id := newPersistentID()
	if !validPersistentID(id) || id == newPersistentID() {
		t.Fatalf("id %q", id)
	}
	for _, bad := range []string{"", "z0.", "z0.xyz", "z1." + strings.Repeat("0", 32), "z0." + strings.Repeat("g", 32), "z0." + strings.Repeat("0", 31) + ">"} {
		if validPersistentID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParsePfopRequest: the JSON body of POST /v1/pfop and the form body
// of Qiniu's POST /pfop/, then the fops they carry. Whatever the input,
// no panic; an accepted request names a bucket, a valid key and fops; a
// refusal is KindInvalid (400).
func FuzzParsePfopRequest(f *testing.F) {
	f.Add([]byte(`{"bucket":"pics","key":"a.jpg","fops":"imageInfo;imageView2/2/w/10|saveas/cGljczpiLmpwZw","notifyURL":"http://example.com/n"}`), false)
	f.Add([]byte(`{"bucket":"pics","key":"a.jpg","fops":"imageInfo","x":1}`), false)
	f.Add([]byte(`{"bucket":"pics"}{}`), false)
	f.Add([]byte("bucket=pics&key=a.jpg&fops=imageInfo%3Bexif&notifyURL=&force=1&pipeline=p"), true)
	f.Add([]byte("bucket=pics&key=%ZZ&fops=imageInfo"), true)
	f.Add([]byte("bucket=pics&key=a%2F..%2Fb&fops=imageInfo"), true)
	f.Fuzz(func(t *testing.T, body []byte, form bool) {
		parse := parsePfopJSON
		if form {
			parse = parsePfopForm
		}
		r, err := parse(body)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid {
				t.Fatalf("refusal of kind %v: %v", ufop.KindOf(err), err)
			}
			return
		}
		if r.Bucket == "" || r.Key == "" || strings.TrimSpace(r.Fops) == "" {
			t.Fatalf("accepted %+v", r)
		}
		cmds, ps, err := parsePfopFops(r.Fops, fop.DefaultMaxSteps, 20)
		if err != nil {
			if k := ufop.KindOf(err); k != ufop.KindInvalid {
				t.Fatalf("fops refusal of kind %v: %v", k, err)
			}
			return
		}
		if len(cmds) != len(ps) || len(ps) == 0 || len(ps) > 20 {
			t.Fatalf("%d cmds, %d pipelines", len(cmds), len(ps))
		}
	})
}

// FuzzPfopSaveAs: the saveas decoder as pfop meets it. An accepted target
// has a bucket and a key, and survives its normalized spelling.
func FuzzPfopSaveAs(f *testing.F) {
	for _, s := range []string{"cGljczphLmpwZw==", "cGljczphLmpwZw", "cGljczph+/8", "%63GljczphLmpwZw", "bm9jb2xvbg", "Og", "", "!!!", "cGljczo6"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		_, ps, err := parsePfopFops("imageInfo|saveas/"+arg, fop.DefaultMaxSteps, 20)
		if err != nil {
			if ufop.KindOf(err) != ufop.KindInvalid || !strings.Contains(ufop.Message(err), "saveas") && !strings.Contains(ufop.Message(err), "pipeline") {
				t.Fatalf("refusal %v", err)
			}
			return
		}
		if len(ps) != 1 {
			// A ';' inside the argument splits pipelines: then the
			// first one ends where the ';' was.
			return
		}
		sa := ps[0].SaveAs
		if sa == nil || sa.Bucket == "" || sa.Key == "" {
			t.Fatalf("accepted %q without a target: %+v", arg, sa)
		}
		again, err := fop.Parse(ps[0].String(), fop.DefaultMaxSteps)
		if err != nil || again.SaveAs == nil || *again.SaveAs != *sa {
			t.Fatalf("normal form %q: %v, %+v", ps[0].String(), err, again.SaveAs)
		}
	})
}
