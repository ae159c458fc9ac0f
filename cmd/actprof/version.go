package main

import (
	"context"
	"fmt"
	"runtime"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

func cmdVersion(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "version", "", "Print actprof's version, Go version, platform and CPU backend.")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s (%s, %s/%s, backend %s)\n", profiler.ToolVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH, cpu.New().Name())
	return nil
}
