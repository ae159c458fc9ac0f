// Command actprof profiles recorded neural-network activations: per layer
// and unit, how often x > T, which units are dead, rare or always on.
//
//	actprof profile [flags] PATH...   count and report
//	actprof synth [flags]             write a synthetic dataset
//	actprof merge -o OUT A.json B.json...
//	actprof diff OLD.json NEW.json    units that died, revived, changed rate
//	actprof check PROFILE.json --max-dead-frac F ...   a CI gate
//	actprof report PROFILE.json -o REPORT.html         an offline HTML page
//	actprof timeline P1.json P2.json... -o TIMELINE.html   across checkpoints
//	actprof version
//
// Exit status: 0 success, 1 bad input or failure (one line "actprof: FILE:
// problem" on stderr), 2 bad usage, 128+N when stopped by signal N before
// finishing (130 SIGINT, 143 SIGTERM, 129 SIGHUP), with no output written.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/actprof/actprof/internal/atomicfile"
)

// usageError is a command-line mistake: exit status 2. synopsis, when
// set, is the command's one-line usage, printed after the message.
type usageError struct{ msg, synopsis string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{msg: fmt.Sprintf(format, args...)} }

// interrupted is the cause of a run's cancellation by a signal.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted (" + sigName(i.sig) + ")" }

func sigName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// env is what a command sees of the process, so tests can run it in-process.
type env struct {
	stdout, stderr io.Writer
	stderrTTY      bool
}

var commands = []struct {
	name, summary string
	run           func(ctx context.Context, e *env, args []string) error
}{
	{"profile", "count firing units in activation files and report dead, rare and always-on units", cmdProfile},
	{"synth", "write a synthetic activation dataset with planted dead, rare and always-on units", cmdSynth},
	{"patterns", "query a pattern store: show, samples, stats, verify, export, compact", cmdPatterns},
	{"devices", "list the CPU and GPU backends actprof can count on", cmdDevices},
	{"merge", "merge profiles of parts of a dataset into the profile of the whole", cmdMerge},
	{"diff", "compare two profiles: units that died, revived, became rare, changed rate", cmdDiff},
	{"check", "check a profile against limits (dead fraction, new dead units...): a CI gate", cmdCheck},
	{"export", "write a profile's per-unit figures as CSV", cmdExport},
	{"report", "write a profile as a self-contained HTML page (offline)", cmdReport},
	{"timeline", "line up profiles of checkpoints: dead and rare fractions, Pr[y>0] (HTML or JSON)", cmdTimeline},
	{"version", "print the version", cmdVersion},
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "usage: actprof COMMAND [flags] [args]\n\nactprof measures how often each unit of a neural network fires (x > T) over\nrecorded activations (.npy, .npz, safetensors, folders of .npy shards).\n\ncommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'actprof COMMAND --help' for a command's flags.")
}

// run is main without the exit: it returns the exit status.
func run(ctx context.Context, e *env, args []string) int {
	if len(args) == 0 {
		mainUsage(e.stderr)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		mainUsage(e.stdout)
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, e, args[1:])
		var ck *checkpointed
		if errors.As(err, &ck) {
			fmt.Fprintf(e.stderr, "actprof: %s\n", oneLine(err))
			return exitCheckpointed
		}
		var intr interrupted
		if err != nil && errors.As(context.Cause(ctx), &intr) {
			// whatever the run's error, a signal stopped it: outputs were
			// not committed
			fmt.Fprintf(e.stderr, "actprof: %s: nothing written\n", intr)
			return 128 + int(intr.sig)
		}
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, new(usageError)):
			var ue usageError
			errors.As(err, &ue)
			fmt.Fprintf(e.stderr, "actprof %s: %s\n", c.name, oneLine(err))
			if ue.synopsis != "" {
				fmt.Fprintf(e.stderr, "%s\n", ue.synopsis)
			}
			fmt.Fprintf(e.stderr, "Run 'actprof %s --help' for usage.\n", c.name)
			return 2
		default:
			fmt.Fprintf(e.stderr, "actprof: %s\n", oneLine(err))
			return 1
		}
	}
	fmt.Fprintf(e.stderr, "actprof: unknown command %q\n", args[0])
	mainUsage(e.stderr)
	return 2
}

// oneLine makes an error one line that is safe on a terminal: newlines
// become "; ", other control characters (ESC, C1: from layer or file
// names) their Go escapes; invalid UTF-8 shows as U+FFFD.
func oneLine(err error) string {
	var b strings.Builder
	for _, r := range err.Error() {
		switch {
		case r == '\n':
			b.WriteString("; ")
		case r == ' ' || strconv.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		}
	}
	return b.String()
}

// stopSignals are the signals that stop a run: an interrupt at the
// terminal, a scheduler's SIGTERM (preemption, time limit), a closed
// terminal's SIGHUP.
var stopSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// notifyStop returns a context cancelled, with an interrupted cause, by the
// first stop signal: the run unwinds and removes its temporary files. A
// second signal removes them and exits at once.
func notifyStop() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-ch:
			cancel(interrupted{s.(syscall.Signal)})
		case <-done:
			return
		}
		select {
		case s := <-ch:
			atomicfile.RemoveTemps()
			fmt.Fprintf(os.Stderr, "actprof: %s again: stopped at once, nothing written\n", interrupted{s.(syscall.Signal)})
			os.Exit(128 + int(s.(syscall.Signal)))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
}

func main() {
	ctx, stop := notifyStop()
	defer stop()
	e := &env{stdout: os.Stdout, stderr: os.Stderr, stderrTTY: isTerminal(os.Stderr)}
	// ACTPROF_CPUPROFILE=FILE writes a Go CPU profile of the run (for
	// developers).
	if path := os.Getenv("ACTPROF_CPUPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if pprof.StartCPUProfile(f) == nil {
				defer pprof.StopCPUProfile()
			}
		}
	}
	// ACTPROF_TRACE=FILE writes a Go execution trace (where goroutines
	// wait: go tool trace -pprof=sync FILE).
	if path := os.Getenv("ACTPROF_TRACE"); path != "" {
		if f, err := os.Create(path); err == nil {
			if trace.Start(f) == nil {
				defer trace.Stop()
			}
			defer f.Close()
		}
	}
	// ACTPROF_MEMPROFILE=FILE writes where the run allocated (go tool pprof
	// -sample_index=alloc_space).
	memProfile := os.Getenv("ACTPROF_MEMPROFILE")
	if memProfile != "" {
		runtime.MemProfileRate = 16 << 10
	}
	code := run(ctx, e, os.Args[1:])
	stop()
	pprof.StopCPUProfile()
	trace.Stop()
	if memProfile != "" {
		runtime.GC() // the profile is as of the last collection
		if f, err := os.Create(memProfile); err == nil {
			pprof.Lookup("allocs").WriteTo(f, 0)
			f.Close()
		}
	}
	os.Exit(code)
}

// usage is a flag set's help: printed whole on stdout for --help; on a
// mistake, the message and the synopsis go to stderr (so that --json >
// out.json never captures them).
type usage struct {
	help     func()
	synopsis string
}

var usages sync.Map // *flag.FlagSet -> usage

// newFlags makes a subcommand's flag set; its usage goes to stdout on
// --help, errors become usageErrors.
func newFlags(e *env, name, args, about string) *flag.FlagSet {
	fs := flag.NewFlagSet("actprof "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints it
	usages.Store(fs, usage{synopsis: "usage: actprof " + name + " " + args, help: func() {
		fmt.Fprintf(e.stdout, "usage: actprof %s %s\n\n%s\n\nflags:\n", name, args, about)
		fs.SetOutput(e.stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}})
	return fs
}

// parse parses flags that may come before, between or after positional
// arguments, and returns the positionals.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			u, _ := usages.Load(fs)
			if errors.Is(err, flag.ErrHelp) {
				if u != nil {
					u.(usage).help()
				}
				return nil, err
			}
			ue := usageError{msg: err.Error()}
			if u != nil {
				ue.synopsis = u.(usage).synopsis
			}
			return nil, ue
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}
