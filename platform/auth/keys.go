// Package auth authenticates API calls with bearer API keys, each scoped to
// one project and one role, and checks each RPC against the role's rights.
// Keys are stored as their SHA-256 only: the key itself is shown once, when
// it is created.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Role is what a key may do.
type Role string

// The roles, from least to most trusted.
const (
	// Viewer reads its project: images, analyses, watches, queue counts.
	Viewer Role = "viewer"
	// Uploader uploads into its project and reads it.
	Uploader Role = "uploader"
	// Worker claims, renews, completes and fails work (analysis-svc only);
	// it reads no images through the status API.
	Worker Role = "worker"
	// Admin does everything in its project, including retry and cancel.
	Admin Role = "admin"
)

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	switch r := Role(strings.ToLower(strings.TrimSpace(s))); r {
	case Viewer, Uploader, Worker, Admin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want viewer, uploader, worker or admin", s)
}

// keyPrefix marks Canopy keys, so secret scanners and people can tell them.
const keyPrefix = "cnp_"

// displayLen is how much of a key is kept to tell keys apart: the marker
// and 8 characters (48 bits), far too little to guess the rest from.
const displayLen = len(keyPrefix) + 8

// WellFormed reports whether key looks like a Canopy key (cnp_ and the
// secret), so a client can refuse a mangled one before using it.
func WellFormed(key string) bool {
	return strings.HasPrefix(key, keyPrefix) && len(key) >= displayLen+8
}

// Principal is the caller a key stands for.
type Principal struct {
	KeyID string
	// ProjectID is the key's project; "" for a worker key of every project.
	ProjectID string
	Role      Role
	// Prefix identifies the key in logs without revealing it.
	Prefix string
}

// AllProjects reports whether the principal is not bound to one project.
func (p *Principal) AllProjects() bool { return p.ProjectID == "" }

// Querier is what the key statements need.
type Querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// ErrInvalidKey means the key is unknown or revoked.
var ErrInvalidKey = errors.New("invalid or revoked API key")

func hashKey(key string) []byte {
	h := sha256.Sum256([]byte(key))
	return h[:]
}

// CreateKey makes a key for project ("" only for an all-projects worker
// key), creating the project if it is new, and returns the key: the only
// time it is ever shown.
// projectID is the rule of projects.id (migration 0004), checked here so
// that a bad id is told in words rather than as a violated constraint.
var projectID = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

func CreateKey(ctx context.Context, db Querier, project string, role Role, name string) (key string, p *Principal, err error) {
	if project == "" && role != Worker {
		return "", nil, errors.New("only a worker key may span every project; name a project")
	}
	if project != "" && !projectID.MatchString(project) {
		return "", nil, fmt.Errorf("project %q: a project id is 1 to 63 lower-case letters, digits, '-' and '_', starting with a letter or digit", project)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return "", nil, fmt.Errorf("generate key: %w", err)
	}
	key = keyPrefix + base64.RawURLEncoding.EncodeToString(secret)
	p = &Principal{KeyID: uuid.NewString(), ProjectID: project, Role: role, Prefix: key[:displayLen]}
	var proj *string
	if project != "" {
		proj = &project
		if _, err := db.Exec(ctx, `INSERT INTO projects (id) VALUES ($1) ON CONFLICT DO NOTHING`, project); err != nil {
			return "", nil, fmt.Errorf("create project %q: %w", project, err)
		}
	}
	if _, err := db.Exec(ctx, `INSERT INTO api_keys (id, project_id, role, name, prefix, hash) VALUES ($1, $2, $3, $4, $5, $6)`,
		p.KeyID, proj, string(role), name, p.Prefix, hashKey(key)); err != nil {
		return "", nil, fmt.Errorf("store key: %w", err)
	}
	return key, p, nil
}

// RevokeKey revokes a key by id; it stops working within the lookup cache's
// lifetime (KeyCacheTTL).
func RevokeKey(ctx context.Context, db Querier, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return fmt.Errorf("key id %q is not a UUID", id)
	}
	tag, err := db.Exec(ctx, `UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL`, id)
	if err != nil {
		return fmt.Errorf("revoke key %s: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("key %s: no such active key", id)
	}
	return nil
}

// KeyInfo is one key as listed (never the key itself).
type KeyInfo struct {
	Principal
	Name      string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// ListKeys lists every key, newest first.
func ListKeys(ctx context.Context, db Querier) ([]KeyInfo, error) {
	rows, err := db.Query(ctx, `SELECT id::text, coalesce(project_id, ''), role, name, prefix, created_at, revoked_at
		FROM api_keys ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (KeyInfo, error) {
		var k KeyInfo
		var role string
		err := r.Scan(&k.KeyID, &k.ProjectID, &role, &k.Name, &k.Prefix, &k.CreatedAt, &k.RevokedAt)
		k.Role = Role(role)
		return k, err
	})
}

// lookup finds the active key's principal.
func lookup(ctx context.Context, db Querier, key string) (*Principal, error) {
	var p Principal
	var role string
	err := db.QueryRow(ctx, `SELECT id::text, coalesce(project_id, ''), role, prefix FROM api_keys
		WHERE hash = $1 AND revoked_at IS NULL`, hashKey(key)).Scan(&p.KeyID, &p.ProjectID, &role, &p.Prefix)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrInvalidKey
	}
	if err != nil {
		return nil, fmt.Errorf("look up API key: %w", err)
	}
	p.Role = Role(role)
	return &p, nil
}
