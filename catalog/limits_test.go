package catalog_test

import (
	"testing"
	"time"

	"github.com/ufop/ufop"
	"github.com/ufop/ufop/catalog"
	"github.com/ufop/ufop/internal/testenv"
)

func ptr[T any](v T) *T { return &v }

func TestLimits(t *testing.T) {
	ctx, a, b := pair(t)
	for _, n := range []string{"alice", "al"} {
		if _, _, err := a.CreateUser(ctx, n, "", false); err != nil {
			t.Fatal(err)
		}
	}

	// Partial updates merge; the other catalog sees each change.
	if _, err := a.SetLimit(ctx, "alice", "", catalog.LimitChange{RPS: ptr(10.0)}); err != nil {
		t.Fatal(err)
	}
	l, err := a.SetLimit(ctx, "alice", "", catalog.LimitChange{Concurrency: ptr(4)})
	if err != nil || l.RPS != 10 || l.Concurrency != 4 || l.Burst != 0 {
		t.Fatalf("merged limit %+v, %v", l, err)
	}
	if _, err := b.SetLimit(ctx, "alice", "facecrop", catalog.LimitChange{RPS: ptr(2.0), Burst: ptr(3)}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetLimit(ctx, "al", "", catalog.LimitChange{RPS: ptr(1.0)}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool {
		l, ok := b.Limit("alice", "")
		return ok && l.Concurrency == 4
	}, "user-wide limit visible on b")
	testenv.Eventually(t, time.Second, func() bool {
		l, ok := a.Limit("alice", "facecrop")
		return ok && l.RPS == 2 && l.Burst == 3
	}, "command limit visible on a")
	if got := a.Limits("alice"); len(got) != 2 || got[0].Cmd != "" || got[1].Cmd != "facecrop" {
		t.Fatalf("alice's limits %+v", got)
	}
	if got := a.Limits(""); len(got) != 3 {
		t.Fatalf("all limits %+v", got)
	}

	for _, tc := range []struct {
		user, cmd string
		ch        catalog.LimitChange
		kind      ufop.Kind
	}{
		{"alice", "", catalog.LimitChange{RPS: ptr(-1.0)}, ufop.KindInvalid},
		{"alice", "", catalog.LimitChange{Burst: ptr(-1)}, ufop.KindInvalid},
		{"alice", "facecrop", catalog.LimitChange{Concurrency: ptr(2)}, ufop.KindInvalid},
		{"alice", "", catalog.LimitChange{}, ufop.KindInvalid},
		{"alice", "a/b", catalog.LimitChange{RPS: ptr(1.0)}, ufop.KindInvalid},
		{"nobody", "", catalog.LimitChange{RPS: ptr(1.0)}, ufop.KindNotFound},
	} {
		if _, err := a.SetLimit(ctx, tc.user, tc.cmd, tc.ch); ufop.KindOf(err) != tc.kind {
			t.Errorf("SetLimit(%s, %q, %+v) = %v, want %v", tc.user, tc.cmd, tc.ch, err, tc.kind)
		}
	}

	// Unsetting every field removes the row.
	if _, err := a.SetLimit(ctx, "al", "", catalog.LimitChange{RPS: ptr(0.0)}); err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Limit("al", ""); ok {
		t.Fatal("empty row kept")
	}
	if err := a.DeleteLimits(ctx, "al", ""); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("deleting nothing: %v", err)
	}
	if _, err := a.SetLimit(ctx, "al", "", catalog.LimitChange{RPS: ptr(1.0)}); err != nil {
		t.Fatal(err)
	}
	// Deleting alice's rows leaves al's.
	if err := b.DeleteLimits(ctx, "alice", ""); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool { return len(a.Limits("alice")) == 0 }, "alice's limits gone on a")
	if _, ok := a.Limit("al", ""); !ok {
		t.Fatal("al's limit deleted with alice's")
	}
	if err := a.DeleteLimits(ctx, "al", "facecrop"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("deleting a missing command row: %v", err)
	}
	// A removed user's limits go with it.
	if err := a.DeleteUser(ctx, "al"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool { return len(b.Limits("")) == 0 }, "al's limits gone with al")
}

func TestKeyRotation(t *testing.T) {
	ctx, a, b := pair(t)
	_, first, err := a.CreateUser(ctx, "alice", "", false)
	if err != nil {
		t.Fatal(err)
	}
	second, err := a.AddKey(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if second.AK == first.AK || len(second.SK) != 40 {
		t.Fatalf("new key %+v", second)
	}
	if _, err := a.AddKey(ctx, "alice"); ufop.KindOf(err) != ufop.KindConflict {
		t.Fatalf("third key: %v", err)
	}
	testenv.Eventually(t, time.Second, func() bool {
		u, sk, err := b.LookupKey(second.AK)
		return err == nil && sk == second.SK && u.Name == "alice" && len(u.Keys) == catalog.MaxKeys && u.Keys[0] == second.AK
	}, "new key usable on b, newest first")
	if _, sk, err := b.LookupKey(first.AK); err != nil || sk != first.SK {
		t.Fatalf("old key after rotation: %v", err)
	}

	if err := b.RemoveKey(ctx, "alice", first.AK); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, time.Second, func() bool { _, _, err := a.LookupKey(first.AK); return err != nil }, "old key revoked on a")
	if _, _, err := a.LookupKey(second.AK); err != nil {
		t.Fatalf("remaining key: %v", err)
	}
	for _, tc := range []struct {
		user, ak string
		kind     ufop.Kind
	}{
		{"alice", second.AK, ufop.KindConflict}, // the last key
		{"alice", first.AK, ufop.KindNotFound},
		{"nobody", second.AK, ufop.KindNotFound},
		{"Bad Name", second.AK, ufop.KindInvalid},
	} {
		if err := a.RemoveKey(ctx, tc.user, tc.ak); ufop.KindOf(err) != tc.kind {
			t.Errorf("RemoveKey(%s, %s) = %v, want %v", tc.user, tc.ak, err, tc.kind)
		}
	}
	if _, err := a.AddKey(ctx, "nobody"); ufop.KindOf(err) != ufop.KindNotFound {
		t.Fatalf("key for a missing user: %v", err)
	}
}
