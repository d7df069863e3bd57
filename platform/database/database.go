// Package database opens the PostgreSQL pool every service shares the shape
// of, and owns the schema: numbered SQL migrations embedded in the binary.
package database

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Config says how to reach PostgreSQL. URL wins; otherwise the parts are
// assembled, which keeps the older design's DB_HOST/DB_PORT/... variables working.
type Config struct {
	URL      string
	Host     string
	Port     string
	Name     string
	User     string
	Password string
	MaxConns int32
	// Listen is false for a database reached through a transaction pooler,
	// where a session cannot hold a LISTEN: waiters then poll the tables.
	Listen bool
}

// ConnString returns the pgx connection string for c.
func (c Config) ConnString() string {
	if c.URL != "" {
		return c.URL
	}
	u := url.URL{Scheme: "postgres", Host: c.Host + ":" + c.Port, Path: "/" + c.Name}
	if c.Password != "" {
		u.User = url.UserPassword(c.User, c.Password)
	} else if c.User != "" {
		u.User = url.User(c.User)
	}
	q := url.Values{}
	q.Set("sslmode", "prefer")
	u.RawQuery = q.Encode()
	return u.String()
}

// Redacted is ConnString without the password, for logs.
func (c Config) Redacted() string {
	cfg, err := pgxpool.ParseConfig(c.ConnString())
	if err != nil {
		return "(unparsable database url)"
	}
	cc := cfg.ConnConfig
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cc.User, cc.Host, cc.Port, cc.Database)
}

// Open connects a pool and checks the server answers. It retries for up to
// wait so that services started together with the database come up in any order.
func Open(ctx context.Context, c Config, wait time.Duration) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(c.ConnString())
	if err != nil {
		return nil, fmt.Errorf("parse database config: %w", err)
	}
	if c.MaxConns > 0 {
		cfg.MaxConns = c.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("create pool: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err = pool.Ping(pingCtx)
		cancel()
		if err == nil {
			return pool, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			pool.Close()
			return nil, fmt.Errorf("reach database %s: %w", c.Redacted(), err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(250 * time.Millisecond):
		}
	}
}
