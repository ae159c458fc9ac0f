package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// The scheduler's variables a shard is taken from when --shard is not
// given. Kubernetes gives an Indexed Job's pods their index but not the
// completion count: the Job's spec sets ACTPROF_SHARDS to it.
const (
	envSlurmID    = "SLURM_ARRAY_TASK_ID"
	envSlurmMin   = "SLURM_ARRAY_TASK_MIN"
	envSlurmMax   = "SLURM_ARRAY_TASK_MAX"
	envSlurmCount = "SLURM_ARRAY_TASK_COUNT"
	envSlurmStep  = "SLURM_ARRAY_TASK_STEP"
	envK8sIndex   = "JOB_COMPLETION_INDEX"
	envShards     = "ACTPROF_SHARDS"
)

// chooseShard picks the run's shard: --shard I/N (none: the whole input,
// whatever the scheduler says), else a Slurm array job's task, else a
// Kubernetes Indexed Job's pod, else none (nil). why says where it came
// from, for the stderr line.
func chooseShard(flagValue string, getenv func(string) string) (spec *profiler.ShardSpec, why string, err error) {
	switch flagValue {
	case "none":
		return nil, "", nil
	case "":
	default:
		s, err := parseShard(flagValue)
		if err != nil {
			return nil, "", err
		}
		return s, "--shard " + flagValue, nil
	}
	if getenv(envSlurmID) != "" {
		return slurmShard(getenv)
	}
	if getenv(envK8sIndex) != "" {
		return k8sShard(getenv)
	}
	if v := getenv(envShards); v != "" {
		return nil, "", usagef("%s=%s is set but %s is not: it gives the shard count of a Kubernetes Indexed Job, whose pods have their index there (or pass --shard I/N)", envShards, v, envK8sIndex)
	}
	return nil, "", nil
}

// parseShard reads I/N.
func parseShard(v string) (*profiler.ShardSpec, error) {
	a, b, ok := strings.Cut(v, "/")
	i, err1 := strconv.Atoi(a)
	n, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
		return nil, usagef("--shard %q: want I/N, shard I of N with 0 <= I < N (e.g. 0/4), or none", v)
	}
	return &profiler.ShardSpec{Index: i, Count: n}, nil
}

// envInt reads a scheduler's integer variable.
func envInt(getenv func(string) string, name string, need bool) (int, bool, error) {
	v := getenv(name)
	if v == "" {
		if need {
			return 0, false, usagef("%s is set but %s is not: cannot tell the shard count (pass --shard I/N)", envSlurmID, name)
		}
		return 0, false, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, false, usagef("%s=%q is not a non-negative integer (pass --shard I/N)", name, v)
	}
	return n, true, nil
}

// slurmShard maps a Slurm array task to a shard. The array must be a
// range with a constant step (--array=A-B or A-B:S, any %limit): task ID
// is then shard (ID-A)/S of COUNT. An array with gaps (--array=0,3,7 or
// 1-3,8) is refused: its task IDs do not number shards.
func slurmShard(getenv func(string) string) (*profiler.ShardSpec, string, error) {
	id, _, err := envInt(getenv, envSlurmID, true)
	if err != nil {
		return nil, "", err
	}
	lo, _, err := envInt(getenv, envSlurmMin, true)
	if err != nil {
		return nil, "", err
	}
	hi, _, err := envInt(getenv, envSlurmMax, true)
	if err != nil {
		return nil, "", err
	}
	count, _, err := envInt(getenv, envSlurmCount, true)
	if err != nil {
		return nil, "", err
	}
	step, ok, err := envInt(getenv, envSlurmStep, false)
	if err != nil {
		return nil, "", err
	}
	if !ok {
		step = 1
	}
	desc := fmt.Sprintf("Slurm array task %s=%d of %d-%d", envSlurmID, id, lo, hi)
	if step != 1 {
		desc += fmt.Sprintf(":%d", step)
	}
	switch {
	case step < 1 || count < 1 || hi < lo || id < lo || id > hi:
		return nil, "", usagef("%s, %s=%d: inconsistent array variables (pass --shard I/N)", desc, envSlurmCount, count)
	case (hi-lo)/step+1 != count || (hi-lo)%step != 0 || (id-lo)%step != 0:
		return nil, "", usagef("%s holds %d tasks, not every %d from %d to %d: an array with gaps does not number shards; submit --array=%d-%d (or A-B:S), or pass --shard I/N",
			desc, count, step, lo, hi, 0, count-1)
	}
	return &profiler.ShardSpec{Index: (id - lo) / step, Count: count}, desc + fmt.Sprintf(", %d tasks", count), nil
}

// k8sShard maps a Kubernetes Indexed Job's pod to a shard: index
// JOB_COMPLETION_INDEX of ACTPROF_SHARDS (the Job's completions).
func k8sShard(getenv func(string) string) (*profiler.ShardSpec, string, error) {
	v := getenv(envK8sIndex)
	i, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || i < 0 {
		return nil, "", usagef("%s=%q is not a non-negative integer (pass --shard I/N)", envK8sIndex, v)
	}
	c := getenv(envShards)
	if c == "" {
		return nil, "", usagef("%s=%d is set but %s is not: set %s to the Job's completions in its pod template (or pass --shard I/N)", envK8sIndex, i, envShards, envShards)
	}
	n, err := strconv.Atoi(strings.TrimSpace(c))
	if err != nil || n < 1 {
		return nil, "", usagef("%s=%q is not a positive integer", envShards, c)
	}
	if i >= n {
		return nil, "", usagef("%s=%d is not below %s=%d: set %s to the Job's completions", envK8sIndex, i, envShards, n, envShards)
	}
	return &profiler.ShardSpec{Index: i, Count: n}, fmt.Sprintf("Kubernetes Indexed Job %s=%d, %s=%d", envK8sIndex, i, envShards, n), nil
}
