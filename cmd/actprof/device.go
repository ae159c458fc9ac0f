package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/actprof/actprof/cpu"
	"github.com/actprof/actprof/profiler"
)

// GPU support lives in a second binary, actprof-cuda (make cuda): the CUDA
// library it links ends the process at start-up when no GPU is usable, so
// actprof never links it. actprof --device auto|cuda probes actprof-cuda in
// a child process with a timeout and re-executes into it when a GPU is
// usable. In actprof-cuda these hooks are set (device_cuda.go).
var (
	gpuBackend func(ordinal int) (profiler.Backend, error)
	gpuDevices func() ([]deviceInfo, error)
)

// deviceInfo is one GPU, as `actprof devices --json` prints it.
type deviceInfo struct {
	Ordinal     int    `json:"ordinal"`
	Name        string `json:"name"`
	Compute     string `json:"compute_capability"`
	MemoryBytes int64  `json:"memory_bytes"`
}

const (
	cudaBinary   = "actprof-cuda"
	probeTimeout = 20 * time.Second
	reexecEnv    = "ACTPROF_REEXEC" // set in a re-executed actprof-cuda, against loops
)

// parseDevice reads --device: auto, cpu, cuda (GPU 0), cuda:N, cuda:N,M,...
// (distinct ordinals) or cuda:all (ordinals nil: every GPU).
func parseDevice(s string) (kind string, ordinals []int, err error) {
	bad := usagef("--device %q: want auto, cpu, cuda, cuda:N, cuda:N,M,... or cuda:all", s)
	switch {
	case s == "auto" || s == "cpu" || s == "cuda":
		return s, []int{0}, nil
	case s == "cuda:all":
		return "cuda", nil, nil
	case strings.HasPrefix(s, "cuda:"):
		for _, f := range strings.Split(s[5:], ",") {
			n, err := strconv.Atoi(f)
			if err != nil || n < 0 || slices.Contains(ordinals, n) {
				return "", nil, bad
			}
			ordinals = append(ordinals, n)
		}
		return "cuda", ordinals, nil
	}
	return "", nil, bad
}

// gpuBackends opens the GPUs of ordinals (nil: all of them): one backend,
// or a profiler.Multi spreading blocks over several.
func gpuBackends(ordinals []int) (profiler.Backend, error) {
	if ordinals == nil {
		devs, err := gpuDevices()
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			ordinals = append(ordinals, d.Ordinal)
		}
		if len(ordinals) == 0 {
			return nil, errors.New("no usable GPU (the driver lists none)")
		}
	}
	var parts []profiler.Backend
	for _, o := range ordinals {
		b, err := gpuBackend(o)
		if err != nil {
			for _, p := range parts {
				if d, ok := p.(profiler.Device); ok {
					d.Close()
				}
			}
			return nil, err
		}
		parts = append(parts, b)
	}
	if len(parts) == 1 {
		return parts[0], nil
	}
	return profiler.NewMulti(parts...)
}

// findCudaBinary looks for actprof-cuda beside this executable, then on PATH.
func findCudaBinary() (string, error) {
	if self, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(self), cudaBinary)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(cudaBinary); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found beside actprof or on PATH (build it with make cuda)", cudaBinary)
}

// probeGPUs runs actprof-cuda devices --json in a child process: a broken
// driver or a missing GPU ends the child, not us.
func probeGPUs(ctx context.Context, bin string) ([]deviceInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "devices", "--json")
	cmd.Env = append(os.Environ(), reexecEnv+"=probe")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s did not answer in %v", bin, probeTimeout)
	}
	if err != nil {
		// gorgonia.org/cu prints its init failure on stdout, then exits 1:
		// "Error in initialization, please refer to ... for details on: NoDevice".
		msg := lastLine(stderr.String())
		if msg == "" {
			msg = lastLine(string(out))
		}
		if i := strings.Index(msg, "details on: "); i >= 0 {
			msg = "CUDA driver: " + msg[i+len("details on: "):]
		}
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("no usable GPU (%s: %s)", filepath.Base(bin), msg)
	}
	var devs []deviceInfo
	if err := json.Unmarshal(out, &devs); err != nil {
		return nil, fmt.Errorf("%s devices: %v", bin, err)
	}
	if len(devs) == 0 {
		return nil, errors.New("no usable GPU (the driver lists none)")
	}
	return devs, nil
}

// chooseBackend returns the backend for --device, or re-executes the whole
// command in actprof-cuda (and does not return) when a GPU is wanted and
// usable from the plain binary.
//
// With auto, the rule of autodevice.go decides first whether a GPU is
// worth trying for plan. A machine without actprof-cuda counts on the CPU
// silently (a CPU-only install); one with actprof-cuda says in one line
// (unless quiet) which it chose and why, or that no GPU is usable.
func chooseBackend(ctx context.Context, e *env, device string, plan autoPlan, generic, quiet bool) (profiler.Backend, error) {
	kind, ordinals, err := parseDevice(device)
	if err != nil {
		return nil, err
	}
	cpuBackend := &cpu.Backend{Generic: generic}
	if kind == "cpu" || generic {
		return cpuBackend, nil
	}
	var why string
	if kind == "auto" {
		var gpu bool
		if gpu, why = chooseAuto(plan); !gpu {
			if _, err := findCudaBinary(); !quiet && (gpuBackend != nil || err == nil) {
				fmt.Fprintf(e.stderr, "actprof: --device auto: counting on the CPU: %s\n", why)
			}
			return cpuBackend, nil
		}
	}
	if gpuBackend != nil { // we are actprof-cuda
		b, err := gpuBackends(ordinals)
		if err == nil {
			if kind == "auto" && !quiet {
				fmt.Fprintf(e.stderr, "actprof: --device auto: counting on the GPU: %s\n", why)
			}
			return b, nil
		}
		if kind == "cuda" {
			return nil, err
		}
		if !quiet {
			fmt.Fprintf(e.stderr, "actprof: %v; counting on the CPU\n", err)
		}
		return cpuBackend, nil
	}
	bin, err := findCudaBinary()
	if err != nil && kind == "auto" {
		return cpuBackend, nil
	}
	if err == nil {
		var devs []deviceInfo
		if devs, err = probeGPUs(ctx, bin); err == nil {
			for _, o := range ordinals {
				if o >= len(devs) && err == nil {
					err = fmt.Errorf("no GPU %d (%d found)", o, len(devs))
				}
			}
			if err == nil && os.Getenv(reexecEnv) == "" {
				args := append([]string{bin}, os.Args[1:]...)
				env := append(os.Environ(), reexecEnv+"=1")
				err = syscall.Exec(bin, args, env) // returns only on failure
			}
		}
	}
	if kind == "cuda" {
		return nil, fmt.Errorf("--device %s: %w", device, err)
	}
	if !quiet {
		fmt.Fprintf(e.stderr, "actprof: %v; counting on the CPU\n", err)
	}
	return cpuBackend, nil
}

func cmdDevices(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "devices", "[--json]", "List the backends and GPUs actprof can count on, with the reason when there is no GPU.")
	asJSON := fs.Bool("json", false, "print the GPUs as JSON (used by actprof to probe actprof-cuda)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	var devs []deviceInfo
	var why error
	if gpuDevices != nil {
		devs, why = gpuDevices()
	} else if bin, err := findCudaBinary(); err != nil {
		why = err
	} else {
		devs, why = probeGPUs(ctx, bin)
	}
	if *asJSON {
		if why != nil {
			return why
		}
		if devs == nil {
			devs = []deviceInfo{}
		}
		return writeJSON(e.stdout, devs)
	}
	fmt.Fprintf(e.stdout, "cpu     %s (always available)\n", cpu.New().Name())
	for _, d := range devs {
		fmt.Fprintf(e.stdout, "cuda:%d  %s, compute %s, %.1f GiB\n", d.Ordinal, d.Name, d.Compute, float64(d.MemoryBytes)/(1<<30))
	}
	if len(devs) == 0 {
		fmt.Fprintf(e.stdout, "cuda    unavailable: %v\n", why)
		fmt.Fprintf(e.stdout, "auto    counts on the CPU (no GPU)\n")
	} else {
		fmt.Fprintf(e.stdout, "auto    %s\n", autoRule(hostCores()))
	}
	return nil
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}
