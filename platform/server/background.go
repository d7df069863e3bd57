package server

import "context"

// Background runs fn in its own goroutine with a context derived from ctx
// and returns stop, which cancels that context and waits for fn to return.
// A service uses it for its helpers (an announcer, a sweeper, a tail) so
// each one is stopped, and has finished, before what it uses is closed.
func Background(ctx context.Context, fn func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
