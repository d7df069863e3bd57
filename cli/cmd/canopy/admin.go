package main

import (
	"context"
	"errors"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/canopyag/canopy/platform/auth"
	"github.com/canopyag/canopy/platform/config"
	"github.com/canopyag/canopy/platform/database"
)

const adminUsage = `usage:
  canopy admin key create --project P --role viewer|uploader|worker|admin [--name N]
  canopy admin key list [--json]
  canopy admin key revoke ID
Admin commands talk to PostgreSQL directly (DATABASE_URL): managing keys is
the database owner's job, not something an API key can do.`

// admin manages API keys. It goes to the database, not through the API, so
// that no key (however privileged) can mint or revoke keys, and so the
// first key can be made before any exists.
func (a *cli) admin(ctx context.Context, args []string) error {
	if len(args) < 2 || args[0] != "key" {
		fmt.Fprintln(a.stderr, adminUsage)
		return errUsage
	}
	r := config.NewReader(a.getenv)
	dbcfg := r.Database()
	if err := r.Err(); err != nil {
		return err
	}
	pool, err := database.Open(ctx, dbcfg, 5*time.Second)
	if err != nil {
		return fmt.Errorf("connect to %s: %w", dbcfg.Redacted(), err)
	}
	defer pool.Close()

	sub, rest := args[1], args[2:]
	switch sub {
	case "create":
		fs := a.flags("admin key create")
		project := fs.String("project", "", "the key's project (created if new); omit only for a worker key of every project")
		roleName := fs.String("role", "", "viewer, uploader, worker or admin")
		name := fs.String("name", "", "a note to recognise the key by")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, rest); err != nil {
			return errUsage
		}
		if err := a.noArgs(fs); err != nil {
			return err
		}
		role, err := auth.ParseRole(*roleName)
		if err != nil {
			fmt.Fprintln(a.stderr, adminUsage)
			return fmt.Errorf("%w: %v", errUsage, err)
		}
		key, p, err := auth.CreateKey(ctx, pool, *project, role, *name)
		if err != nil {
			return schemaHint(err)
		}
		if *asJSON {
			return a.encodeJSON(map[string]string{
				"id": p.KeyID, "key": key, "project": p.ProjectID, "role": string(p.Role), "prefix": p.Prefix,
			})
		}
		// The key alone on stdout, so scripts can capture it; the rest is
		// for the person running the command.
		fmt.Fprintln(a.stdout, key)
		scope := "project " + p.ProjectID
		if p.ProjectID == "" {
			scope = "every project"
		}
		fmt.Fprintf(a.stderr, "created %s key %s for %s; this is the only time the key is shown\n", p.Role, p.KeyID, scope)
		return nil
	case "list":
		fs := a.flags("admin key list")
		asJSON := fs.Bool("json", false, "print JSON")
		if err := parseFlags(fs, rest); err != nil {
			return errUsage
		}
		if err := a.noArgs(fs); err != nil {
			return err
		}
		keys, err := auth.ListKeys(ctx, pool)
		if err != nil {
			return schemaHint(err)
		}
		if *asJSON {
			type row struct {
				ID        string     `json:"id"`
				Project   string     `json:"project"`
				Role      string     `json:"role"`
				Name      string     `json:"name"`
				Prefix    string     `json:"prefix"`
				CreatedAt time.Time  `json:"created_at"`
				RevokedAt *time.Time `json:"revoked_at,omitempty"`
			}
			out := make([]row, 0, len(keys))
			for _, k := range keys {
				out = append(out, row{k.KeyID, k.ProjectID, string(k.Role), k.Name, k.Prefix, k.CreatedAt, k.RevokedAt})
			}
			return a.encodeJSON(out)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPROJECT\tROLE\tNAME\tPREFIX\tCREATED\tREVOKED")
		for _, k := range keys {
			proj, revoked := k.ProjectID, "-"
			if proj == "" {
				proj = "*"
			}
			if k.RevokedAt != nil {
				revoked = k.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\t%s\n", k.KeyID, cell(proj), k.Role, cell(k.Name), k.Prefix, k.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		fs := a.flags("admin key revoke")
		fs.Usage = func() { fmt.Fprintln(a.stderr, adminUsage) }
		if err := parseFlags(fs, rest); err != nil || fs.NArg() != 1 {
			if err == nil {
				fs.Usage()
			}
			return errUsage
		}
		if err := auth.RevokeKey(ctx, pool, fs.Arg(0)); err != nil {
			return schemaHint(err)
		}
		fmt.Fprintf(a.stderr, "revoked key %s (services stop accepting it within %s)\n", fs.Arg(0), auth.KeyCacheTTL)
		return nil
	}
	fmt.Fprintln(a.stderr, adminUsage)
	return errUsage
}

// schemaHint explains a missing table: the database is there but has no
// schema yet, which ingest-svc creates when it starts.
func schemaHint(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" {
		return fmt.Errorf("%w\nthe database has no Canopy schema yet: start ingest-svc on it first (it migrates at start; wait for its /healthz)", err)
	}
	return err
}
