package auth

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Modes.
const (
	// ModeKeys requires an API key on every call but health and reflection.
	ModeKeys = "keys"
	// ModeInsecureDev lets every call in as an admin of the "default"
	// project. For a laptop only; the service logs a warning at start.
	ModeInsecureDev = "insecure-dev"
)

// KeyCacheTTL bounds how long a looked-up key is trusted without asking
// the database again: a revoked key stops working within this time.
const KeyCacheTTL = 5 * time.Second

// Config is the authentication settings.
type Config struct {
	Mode string
	// Per-key caps on concurrent streams; 0 means no cap.
	MaxUploadsPerKey  int
	MaxWatchersPerKey int
}

// Authenticator checks calls.
type Authenticator struct {
	db     Querier
	policy Policy
	cfg    Config
	log    *slog.Logger

	mu    sync.Mutex
	cache map[string]cached
	// open counts each key's running streams per method.
	open map[string]int
}

type cached struct {
	p       *Principal
	expires time.Time
}

// New returns an authenticator over the api_keys table.
func New(db Querier, policy Policy, cfg Config, log *slog.Logger) (*Authenticator, error) {
	switch cfg.Mode {
	case ModeKeys:
	case ModeInsecureDev:
		log.Warn("AUTH_MODE=insecure-dev: every call is let in as an admin of project \"default\"; never use this where others can reach the ports")
	default:
		return nil, errors.New("AUTH_MODE: want keys or insecure-dev")
	}
	return &Authenticator{db: db, policy: policy, cfg: cfg, log: log, cache: map[string]cached{}, open: map[string]int{}}, nil
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext is the caller of the RPC being served; nil outside an
// authenticated call.
func FromContext(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

var devPrincipal = &Principal{KeyID: "insecure-dev", ProjectID: "default", Role: Admin, Prefix: "insecure-dev"}

// authorize returns ctx with the caller, or the error to answer with.
func (a *Authenticator) authorize(ctx context.Context, method string) (context.Context, *Principal, error) {
	for _, p := range openPrefixes {
		if strings.HasPrefix(method, p) {
			return ctx, nil, nil
		}
	}
	roles, known := a.policy[method]
	if !known {
		// Closed by default, in every mode: an RPC nobody has placed in
		// the policy is refused rather than opened by accident.
		return nil, nil, status.Errorf(codes.PermissionDenied, "%s is not open to any key", method)
	}
	if a.cfg.Mode == ModeInsecureDev {
		// The dev principal stands for every role at once (an admin that
		// may also run the work queue), so a local stack needs no key at
		// all, analysis-svc included.
		return NewContext(ctx, devPrincipal), devPrincipal, nil
	}
	key, err := bearer(ctx)
	if err != nil {
		return nil, nil, err
	}
	p, err := a.principal(ctx, key)
	if err != nil {
		return nil, nil, err
	}
	if !slices.Contains(roles, p.Role) {
		a.log.WarnContext(ctx, "permission denied", "method", method, "key_id", p.KeyID, "key_prefix", p.Prefix, "role", p.Role)
		return nil, nil, status.Errorf(codes.PermissionDenied, "%s %s key may not call %s", article(string(p.Role)), p.Role, method)
	}
	return NewContext(ctx, p), p, nil
}

// bearer extracts the key from "authorization: Bearer KEY".
func bearer(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) == 0 {
		return "", status.Error(codes.Unauthenticated, "missing API key: send the header authorization: Bearer KEY")
	}
	scheme, key, ok := strings.Cut(strings.TrimSpace(vals[0]), " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "bearer") || !WellFormed(key) {
		return "", status.Error(codes.Unauthenticated, "malformed authorization header: want Bearer cnp_...")
	}
	return key, nil
}

func (a *Authenticator) principal(ctx context.Context, key string) (*Principal, error) {
	h := string(hashKey(key))
	a.mu.Lock()
	c, ok := a.cache[h]
	a.mu.Unlock()
	if ok && time.Now().Before(c.expires) {
		return c.p, nil
	}
	p, err := lookup(ctx, a.db, key)
	if errors.Is(err, ErrInvalidKey) {
		// Only the prefix is logged: enough to recognise a key, useless to an attacker.
		a.log.WarnContext(ctx, "rejected API key", "key_prefix", key[:displayLen])
		return nil, status.Error(codes.Unauthenticated, "invalid or revoked API key")
	}
	if err != nil && ctx.Err() != nil {
		// The caller went away (a REST client that aborted its upload):
		// nothing failed here, and no one waits for the answer.
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	if err != nil {
		a.log.ErrorContext(ctx, "API key lookup failed", "error", err)
		return nil, status.Error(codes.Unavailable, "cannot check the API key now; try again")
	}
	a.mu.Lock()
	if len(a.cache) > 10_000 {
		clear(a.cache) // bounded: a flood of distinct valid keys cannot grow it forever
	}
	a.cache[h] = cached{p: p, expires: time.Now().Add(KeyCacheTTL)}
	a.mu.Unlock()
	return p, nil
}

// Unary checks unary calls.
func (a *Authenticator) Unary() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		ctx, _, err := a.authorize(ctx, info.FullMethod)
		if err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// Stream checks streaming calls and enforces the per-key stream caps.
func (a *Authenticator) Stream() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx, p, err := a.authorize(ss.Context(), info.FullMethod)
		if err != nil {
			return err
		}
		// The dev principal is everyone at once, not one key: capping it
		// would cap the whole service.
		if p != nil && p != devPrincipal {
			release, err := a.acquire(ctx, p, info)
			if err != nil {
				return err
			}
			defer release()
		}
		return handler(srv, &contextStream{ServerStream: ss, ctx: ctx})
	}
}

// acquire counts one more stream of the key, refusing it over the cap.
func (a *Authenticator) acquire(ctx context.Context, p *Principal, info *grpc.StreamServerInfo) (func(), error) {
	limit, what := a.cfg.MaxWatchersPerKey, "watch streams"
	if info.IsClientStream {
		limit, what = a.cfg.MaxUploadsPerKey, "uploads"
	}
	if limit <= 0 {
		return func() {}, nil
	}
	slot := p.KeyID + " " + what
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.open[slot] >= limit {
		a.log.WarnContext(ctx, "per-key limit reached", "key_id", p.KeyID, "key_prefix", p.Prefix, "limit", limit, "of", what)
		return nil, status.Errorf(codes.ResourceExhausted, "this key already has %d concurrent %s open, its limit; wait for one to finish", limit, what)
	}
	a.open[slot]++
	return func() {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.open[slot]--; a.open[slot] <= 0 {
			delete(a.open, slot)
		}
	}, nil
}

type contextStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *contextStream) Context() context.Context { return s.ctx }

// article is "an" before a vowel ("an admin key"), else "a".
func article(word string) string {
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}
