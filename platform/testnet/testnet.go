// Package testnet finds local ports for the services and servers that
// tests start as processes of their own.
package testnet

import (
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
)

// FreeAddr returns a 127.0.0.1 address with a free port for a process to
// listen on. The port is found by binding it and closing it again, so
// another socket may take it before the process binds. A port the kernel
// picks (port 0) comes from the ephemeral range that every outgoing
// connection (to PostgreSQL, versitygw, the services) also draws from, and
// CI once lost a status-svc start to "address already in use" that way. So
// the port is drawn below that range (Linux's default starts at 32768),
// where only explicit binds go, and is never handed out twice by one test
// binary.
func FreeAddr(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if given[port] {
			continue
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // in use
		}
		_ = l.Close()
		given[port] = true
		return l.Addr().String()
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

var (
	mu    sync.Mutex
	given = map[int]bool{}
)
