//go:build darwin || freebsd || netbsd || openbsd || dragonfly

package input

import "syscall"

const mmapFlags = syscall.MAP_SHARED
