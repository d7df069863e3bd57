// Package dbtest gives each test its own freshly migrated PostgreSQL
// database on a real server, so tests never share state or collide with
// each other's runs. Databases are cloned from a migrated template (about
// 75 ms each) and dropped when the test ends.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/canopyag/canopy/platform/database"
)

// AdminURLEnv names the variable that points tests at a server where they may
// create databases. The default is the machine's local PostgreSQL.
const AdminURLEnv = "CANOPY_TEST_DATABASE_URL"

const defaultAdminURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// adminLock serialises template creation and cloning across test binaries:
// CREATE DATABASE ... TEMPLATE fails if another session touches the template.
const adminLock = 7_267_002

// AdminURL is the server tests create their databases on.
func AdminURL() string {
	if u := os.Getenv(AdminURLEnv); u != "" {
		return u
	}
	return defaultAdminURL
}

// NewDatabase creates a migrated database for t and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Fatalf("connect to test PostgreSQL at %s (start it, or set %s): %v", redact(AdminURL()), AdminURLEnv, err)
	}
	defer admin.Close(ctx)

	if _, err := admin.Exec(ctx, `SELECT pg_advisory_lock($1)`, adminLock); err != nil {
		t.Fatalf("lock: %v", err)
	}
	tmpl, err := ensureTemplate(ctx, admin)
	if err == nil {
		name := "canopy_test_" + randomHex(6)
		_, err = admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s TEMPLATE %s`, name, tmpl))
		if err == nil {
			t.Cleanup(func() { drop(t, name) })
			_, _ = admin.Exec(ctx, `SELECT pg_advisory_unlock($1)`, adminLock)
			return withDatabase(AdminURL(), name)
		}
	}
	_, _ = admin.Exec(ctx, `SELECT pg_advisory_unlock($1)`, adminLock)
	t.Fatalf("create test database: %v", err)
	return ""
}

// NewPool is NewDatabase plus a pool closed at the end of the test.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := database.Open(context.Background(), database.Config{URL: NewDatabase(t)}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ensureTemplate creates the template for the current set of migrations once;
// its name carries a hash of the migrations so a schema change gets a new one.
func ensureTemplate(ctx context.Context, admin *pgx.Conn) (string, error) {
	name := "canopy_template_" + database.SchemaHash()[:12]
	var exists bool
	if err := admin.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", fmt.Errorf("look for template: %w", err)
	}
	if exists {
		return name, nil
	}
	building := name + "_building"
	_, _ = admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s`, building))
	if _, err := admin.Exec(ctx, fmt.Sprintf(`CREATE DATABASE %s`, building)); err != nil {
		return "", fmt.Errorf("create template: %w", err)
	}
	pool, err := database.Open(ctx, database.Config{URL: withDatabase(AdminURL(), building)}, 5*time.Second)
	if err != nil {
		return "", err
	}
	_, err = database.Migrate(ctx, pool)
	pool.Close()
	if err != nil {
		return "", fmt.Errorf("migrate template: %w", err)
	}
	// Renaming last means a half-built template is never used by another run.
	if _, err := admin.Exec(ctx, fmt.Sprintf(`ALTER DATABASE %s RENAME TO %s`, building, name)); err != nil {
		return "", fmt.Errorf("rename template: %w", err)
	}
	return name, nil
}

func drop(t testing.TB, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, AdminURL())
	if err != nil {
		t.Logf("drop %s: %v", name, err)
		return
	}
	defer admin.Close(ctx)
	// WITH (FORCE) ends connections a test left open (a pool still draining).
	if _, err := admin.Exec(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, name)); err != nil {
		t.Logf("drop %s: %v", name, err)
	}
}

func withDatabase(rawURL, name string) string {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return rawURL
	}
	// Rebuild from parts: string surgery on URLs with query strings is fragile.
	u := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Host, cfg.Port, name)
	if cfg.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%d/%s?sslmode=disable", cfg.User, cfg.Password, cfg.Host, cfg.Port, name)
	}
	if strings.HasPrefix(cfg.Host, "/") {
		u = fmt.Sprintf("postgres:///%s?host=%s&port=%d&user=%s&sslmode=disable", name, cfg.Host, cfg.Port, cfg.User)
	}
	return u
}

func redact(rawURL string) string {
	cfg, err := pgx.ParseConfig(rawURL)
	if err != nil {
		return "(unparsable)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
