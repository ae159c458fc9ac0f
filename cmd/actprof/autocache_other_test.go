//go:build !linux

package main

import "testing"

// dropPages cannot drop a file's pages here: false.
func dropPages(t *testing.T, name string) bool { return false }
