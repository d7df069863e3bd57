// Package e2e holds the end-to-end tests of the whole pipeline; it has no
// code of its own.
package e2e
