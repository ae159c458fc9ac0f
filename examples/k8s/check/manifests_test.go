// Package check tests the Kubernetes examples: each manifest decodes
// strictly into the batch/v1 Job type (an unknown or misspelt field is an
// error), and each pod's command, run here with the environment the Job
// gives it (JOB_COMPLETION_INDEX per index, the volume at a temporary
// folder), profiles its shard; the merge Job's command then gives the
// profile of one run over the whole dataset.
package check

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

func readJob(t *testing.T, name string) *batchv1.Job {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", name))
	if err != nil {
		t.Fatal(err)
	}
	var j batchv1.Job
	if err := yaml.UnmarshalStrict(b, &j); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if j.APIVersion != "batch/v1" || j.Kind != "Job" || len(j.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("%s: %s %s with %d containers", name, j.APIVersion, j.Kind, len(j.Spec.Template.Spec.Containers))
	}
	return &j
}

// actprof is the built command (ACTPROF, or bin/actprof of the repository).
func actprof(t *testing.T) string {
	t.Helper()
	p := os.Getenv("ACTPROF")
	if p == "" {
		p = filepath.Join("..", "..", "..", "bin", "actprof")
	}
	p, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("actprof not built (make build): %v", err)
	}
	return p
}

// runPod runs the container's command as the kubelet would, with the
// volume's mount path mapped to dir and actprof on PATH.
func runPod(t *testing.T, c corev1.Container, dir, binDir string, extra ...string) {
	t.Helper()
	mount := c.VolumeMounts[0].MountPath
	var args []string
	for _, a := range append(clone(c.Command), c.Args...) {
		args = append(args, strings.ReplaceAll(a, mount, dir))
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = append([]string{"PATH=" + binDir + ":/usr/bin:/bin"}, extra...)
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
}

func clone(s []string) []string { return append([]string(nil), s...) }

func TestIndexedJob(t *testing.T) {
	job := readJob(t, "indexed-job.yaml")
	merge := readJob(t, "merge-job.yaml")
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion || spec.Completions == nil || spec.Parallelism == nil {
		t.Fatal("indexed-job.yaml: not an Indexed Job with completions and parallelism")
	}
	c := spec.Template.Spec.Containers[0]
	shards := ""
	for _, e := range c.Env {
		if e.Name == "ACTPROF_SHARDS" {
			shards = e.Value
		}
	}
	if n, err := strconv.Atoi(shards); err != nil || int32(n) != *spec.Completions {
		t.Fatalf("ACTPROF_SHARDS %q, completions %d: they must agree", shards, *spec.Completions)
	}
	bin := actprof(t)
	binDir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(binDir, "actprof")); err != nil {
		t.Fatal(err)
	}
	data := t.TempDir()
	if out, err := exec.Command(bin, "synth", "-o", filepath.Join(data, "acts"), "--rows", "5003", "--layer", "fc:40", "--layer", "conv:6x3x3").CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	for i := 0; i < int(*spec.Completions); i++ {
		runPod(t, c, data, binDir, "JOB_COMPLETION_INDEX="+strconv.Itoa(i))
	}
	runPod(t, merge.Spec.Template.Spec.Containers[0], data, binDir)
	single := filepath.Join(t.TempDir(), "single.json")
	if out, err := exec.Command(bin, "profile", "--quiet", "--stats", "-o", single, filepath.Join(data, "acts")).CombinedOutput(); err != nil {
		t.Fatalf("single run: %v\n%s", err, out)
	}
	a, b := load(t, single), load(t, filepath.Join(data, "profile.json"))
	for i := range a {
		for _, k := range []string{"name", "shape", "observations", "counts", "nan_counts", "dead", "rare", "always_on"} {
			if !reflect.DeepEqual(a[i][k], b[i][k]) {
				t.Errorf("layer %v: %s differs from one run's", a[i]["name"], k)
			}
		}
		sa, sb := a[i]["stats"].(map[string]any), b[i]["stats"].(map[string]any)
		for _, k := range []string{"min", "max", "first_fired", "last_fired", "value_hist", "l0_hist", "constant", "dormant"} {
			if !reflect.DeepEqual(sa[k], sb[k]) {
				t.Errorf("layer %v: stats.%s differs from one run's", a[i]["name"], k)
			}
		}
	}
}

func load(t *testing.T, path string) []map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Layers []map[string]any `json:"layers"`
	}
	if err := json.Unmarshal(b, &p); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return p.Layers
}
