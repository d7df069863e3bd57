// Package shareddata finds the team's real drone images for tests. They live
// beside the repository (../shared/data, with PROVENANCE.md) and are never
// copied into it; CANOPY_SHARED_DATA points elsewhere.
package shareddata

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// Env overrides where the data is.
const Env = "CANOPY_SHARED_DATA"

// Find returns the data folder, or an error saying where it looked.
func Find() (string, error) {
	if d := os.Getenv(Env); d != "" {
		if _, err := os.Stat(filepath.Join(d, "PROVENANCE.md")); err != nil {
			return "", err
		}
		return d, nil
	}
	dir, err := RepoRoot()
	if err != nil {
		return "", err
	}
	d := filepath.Join(dir, "..", "shared", "data")
	if _, err := os.Stat(d); err != nil {
		return "", err
	}
	return d, nil
}

// Dir returns the data folder, or skips the test with a message saying how
// to provide it.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := Find()
	if err != nil {
		t.Skipf("real drone images not found (%v); set %s to the shared/data folder", err, Env)
	}
	return d
}

// RepoRoot is the nearest directory above the working directory that holds
// go.work: the repository, since tests run in their package's directory.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.work above the working directory")
		}
		dir = parent
	}
}
