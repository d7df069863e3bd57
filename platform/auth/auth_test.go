package auth

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	canopyv1 "github.com/canopyag/canopy/gen/go/canopy/v1"
	"github.com/canopyag/canopy/platform/database/dbtest"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func withAuth(v string) context.Context {
	return metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", v))
}

// insecure-dev lets every RPC of the policy in, work queue included (the
// dev principal is an admin and a worker at once), still refuses RPCs the
// policy does not name, and leaves health and reflection open.
func TestInsecureDevMode(t *testing.T) {
	a, err := New(nil, DefaultPolicy, Config{Mode: ModeInsecureDev}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	for method := range DefaultPolicy {
		ctx, p, err := a.authorize(context.Background(), method)
		if err != nil || p == nil || FromContext(ctx).ProjectID != "default" {
			t.Errorf("%s: %v (principal %v), want let in as project default", method, err, p)
		}
	}
	if _, _, err := a.authorize(context.Background(), "/canopy.v1.Secret/Leak"); status.Code(err) != codes.PermissionDenied {
		t.Errorf("unknown method: %v, want PermissionDenied", err)
	}
	if _, p, err := a.authorize(context.Background(), "/grpc.health.v1.Health/Check"); err != nil || p != nil {
		t.Errorf("health: %v %v, want open with no principal", p, err)
	}
	if _, err := New(nil, DefaultPolicy, Config{Mode: "off"}, quiet); err == nil {
		t.Error("an unknown AUTH_MODE was accepted")
	}
}

func TestKeysMode(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	viewer, vp, err := CreateKey(ctx, pool, "farm", Viewer, "v")
	if err != nil {
		t.Fatal(err)
	}
	worker, _, err := CreateKey(ctx, pool, "", Worker, "w")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := CreateKey(ctx, pool, "", Admin, "x"); err == nil {
		t.Error("an admin key without a project was created")
	}
	var stored int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE hash = $1 AND prefix = $2`, hashKey(viewer), viewer[:12]).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("key stored as its hash and prefix: %d rows (%v)", stored, err)
	}
	a, err := New(pool, DefaultPolicy, Config{Mode: ModeKeys}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	get := canopyv1.StatusService_GetImage_FullMethodName
	claim := canopyv1.WorkService_ClaimWork_FullMethodName
	for _, tc := range []struct {
		name, header, method string
		want                 codes.Code
	}{
		{"viewer reads", "Bearer " + viewer, get, codes.OK},
		{"scheme is case-insensitive", "bearer " + viewer, get, codes.OK},
		{"viewer may not claim", "Bearer " + viewer, claim, codes.PermissionDenied},
		{"worker claims", "Bearer " + worker, claim, codes.OK},
		{"worker may not read", "Bearer " + worker, get, codes.PermissionDenied},
		{"basic auth", "Basic dXNlcjpwYXNz", get, codes.Unauthenticated},
		{"no cnp_ marker", "Bearer abcdefghijklmnopqrstuvwxyz", get, codes.Unauthenticated},
		{"too short", "Bearer cnp_abc", get, codes.Unauthenticated},
		{"unknown key", "Bearer cnp_" + "A0000000000000000000000000000000000000000000", get, codes.Unauthenticated},
	} {
		ctx, p, err := a.authorize(withAuth(tc.header), tc.method)
		if status.Code(err) != tc.want {
			t.Errorf("%s: %v, want %s", tc.name, err, tc.want)
		}
		if tc.want == codes.OK && (p == nil || FromContext(ctx) != p) {
			t.Errorf("%s: no principal in the context", tc.name)
		}
	}
	if _, _, err := a.authorize(context.Background(), get); status.Code(err) != codes.Unauthenticated {
		t.Errorf("no header: %v, want Unauthenticated", err)
	}

	// Revocation: a key never used (so not cached) stops at once.
	if err := RevokeKey(ctx, pool, vp.KeyID); err != nil {
		t.Fatal(err)
	}
	fresh, err := New(pool, DefaultPolicy, Config{Mode: ModeKeys}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := fresh.authorize(withAuth("Bearer "+viewer), get); status.Code(err) != codes.Unauthenticated {
		t.Errorf("revoked key: %v, want Unauthenticated", err)
	}
	if err := RevokeKey(ctx, pool, vp.KeyID); err == nil {
		t.Error("revoking twice succeeded")
	}
	keys, err := ListKeys(ctx, pool)
	if err != nil || len(keys) != 2 {
		t.Fatalf("ListKeys: %d keys, %v", len(keys), err)
	}
}

// A caller that goes away while its key is looked up (a REST client that
// aborted its upload) is answered Canceled, and nothing is logged as a
// failed lookup: that error log and its Unavailable "try again" were
// false alarms for something the client did.
func TestKeyLookupOfAGoneCaller(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	key, _, err := CreateKey(ctx, pool, "farm", Viewer, "v")
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	a, err := New(pool, DefaultPolicy, Config{Mode: ModeKeys}, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(withAuth("Bearer " + key))
	cancel()
	if _, _, err := a.authorize(gone, canopyv1.StatusService_GetImage_FullMethodName); status.Code(err) != codes.Canceled {
		t.Errorf("lookup for a gone caller: %v, want Canceled", err)
	}
	if strings.Contains(logs.String(), "lookup failed") {
		t.Errorf("logged as a failed lookup:\n%s", logs.String())
	}
}

// Project ids the table's CHECK refuses are refused in words, before the
// database (a fresh-user test got the raw constraint violation); the
// longest and oddest ids it allows still reach it and pass.
func TestCreateKeyProjectIDs(t *testing.T) {
	ctx := context.Background()
	pool := newTestPool(t)
	for _, id := range []string{"Default", "a b", "-farm", "_farm", strings.Repeat("f", 64), "farm.north"} {
		if _, _, err := CreateKey(ctx, pool, id, Viewer, "v"); err == nil || !strings.Contains(err.Error(), "a project id is 1 to 63") || strings.Contains(err.Error(), "SQLSTATE") {
			t.Errorf("project %q: %v; want it refused in words", id, err)
		}
	}
	for _, id := range []string{"0", "farm_2-north", strings.Repeat("f", 63)} {
		if _, _, err := CreateKey(ctx, pool, id, Viewer, "v"); err != nil {
			t.Errorf("project %q: %v; want it accepted", id, err)
		}
	}
}

// newTestPool connects to a fresh database of this test's own, closed when
// the test ends.
func newTestPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), dbtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}
