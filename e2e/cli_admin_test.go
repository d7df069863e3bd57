package e2e

import (
	"context"
	"strings"
	"testing"
	"time"
)

// canopy admin key create/list/revoke against the database, and the CLI
// authenticating with --api-key or CANOPY_API_KEY, over plaintext and TLS.
func TestCLIAdminKeys(t *testing.T) {
	bin := buildCLI(t)
	caFile, certFile, keyFile := testCA(t)
	s, _, _ := newAuthStack(t, "local", map[string]string{"TLS_CERT_FILE": certFile, "TLS_KEY_FILE": keyFile})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	db := map[string]string{"DATABASE_URL": s.env["DATABASE_URL"]}
	canopy := func(env map[string]string, args ...string) (int, string, string) {
		t.Helper()
		return runCLIBinary(ctx, t, bin, env, append([]string{"--ingest", s.ingestAddr, "--status", s.statusAddr, "--tls-ca", caFile}, args...)...)
	}

	code, key, errOut := canopy(db, "admin", "key", "create", "--project", "farm-1", "--role", "viewer", "--name", "cli test")
	key = strings.TrimSpace(key)
	if code != 0 || !strings.HasPrefix(key, "cnp_") || strings.Contains(key, "\n") {
		t.Fatalf("key create: exit %d, stdout %q, stderr %s", code, key, errOut)
	}
	if code, out, errOut := canopy(nil, "--api-key", key, "stats"); code != 0 {
		t.Errorf("stats with --api-key: exit %d\n%s%s", code, out, errOut)
	}
	if code, out, errOut := canopy(map[string]string{"CANOPY_API_KEY": key}, "list"); code != 0 {
		t.Errorf("list with CANOPY_API_KEY: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := canopy(nil, "stats"); code != 1 || !strings.Contains(errOut, "Unauthenticated") {
		t.Errorf("stats without a key: exit %d, stderr %s; want 1 and Unauthenticated", code, errOut)
	}
	// A viewer may not upload: the CLI shows the server's PermissionDenied.
	if code, _, errOut := canopy(map[string]string{"CANOPY_API_KEY": key}, "upload", mustSample(t)); code != 1 || !strings.Contains(errOut, "PermissionDenied") {
		t.Errorf("upload with a viewer key: exit %d, stderr %s; want 1 and PermissionDenied", code, errOut)
	}

	// A second key, revoked before its first use (so no service has it cached).
	code, key2, _ := canopy(db, "admin", "key", "create", "--project", "farm-1", "--role", "admin")
	key2 = strings.TrimSpace(key2)
	if code != 0 {
		t.Fatal("second key create failed")
	}
	code, list, _ := canopy(db, "admin", "key", "list")
	if code != 0 || strings.Contains(list, key) || strings.Contains(list, key2) || !strings.Contains(list, key2[:12]) {
		t.Fatalf("key list (exit %d) must show prefixes, never keys:\n%s", code, list)
	}
	var id2 string
	for _, line := range strings.Split(list, "\n") {
		if strings.Contains(line, key2[:12]) {
			id2 = strings.Fields(line)[0]
		}
	}
	if code, _, errOut := canopy(db, "admin", "key", "revoke", id2); code != 0 {
		t.Fatalf("revoke %s: exit %d %s", id2, code, errOut)
	}
	if code, _, errOut := canopy(map[string]string{"CANOPY_API_KEY": key2}, "stats"); code != 1 || !strings.Contains(errOut, "Unauthenticated") {
		t.Errorf("stats with a revoked key: exit %d, stderr %s", code, errOut)
	}
	if _, list, _ := canopy(db, "admin", "key", "list"); !strings.Contains(list, id2) || strings.Count(list, "\n") != 3+8 {
		// 8 keys from newAuthStack, 2 made here, and the header line.
		t.Errorf("key list after revoke:\n%s", list)
	}
	if code, _, _ := canopy(db, "admin", "key", "create", "--project", "farm-1", "--role", "owner"); code != 2 {
		t.Errorf("unknown role: exit %d, want 2", code)
	}
	if code, _, _ := canopy(db, "admin", "key", "revoke", id2); code != 1 {
		t.Errorf("revoking a revoked key: exit %d, want 1", code)
	}
}
