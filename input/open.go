// Package input reads recorded activations: .npy files, .npz archives,
// safetensors files, torch.save .pt files, Arrow IPC and Parquet files and
// folders of them, including folders of .npy shards.
// Open lists the layers and checks their headers; each layer's Open then
// gives its bytes with bounded memory: uncompressed data through ReadAt
// (pread, from the profiler's workers in parallel; profiler.ReaderAtSource)
// or, for sequential readers, memory-mapped a window at a time; compressed
// .npz members decompressed a chunk at a time, Parquet row groups decoded in
// parallel into bounded buffers. Every error names the file and wraps one of the profiler's
// sentinel errors.
package input

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// Options select what Open reads.
type Options struct {
	// Layers are path.Match patterns: only layers whose name one matches are
	// read. Empty means all. Each pattern must match some layer. Note that
	// '*' does not match '/' (in .npz member names).
	Layers []string
}

// Open lists the layers in paths, in order. A path is a local one or an
// S3 URL, s3://bucket/key (see OpenObject), and may be
//
//   - a .npy file: one layer, named by the file name without .npy;
//   - a .npz archive: one layer per .npy member, named by the member name
//     without .npy, in archive order;
//   - a .safetensors file: one layer per tensor, in order of data offset;
//   - a .pt or .pth file (torch.save, zip format): one layer per tensor,
//     named by its dict keys and list indices joined with '.', a lone
//     tensor by the file name without its extension;
//   - an Arrow IPC file (.arrow, .arrows, .feather, .ipc; stream or file
//     format): one layer per column of lists of floats, named by the column;
//   - a Parquet file (.parquet, .pq): one layer per column of lists of
//     floats, named by the column;
//   - a Hugging Face datasets folder (state.json, or dataset_info.json
//     beside data-XXXXX-of-YYYYY.arrow shards): its columns, the shards
//     joined;
//   - a folder: each .npy, .npz, .safetensors, .pt, .pth, Arrow and Parquet file in it as above,
//     its PREFIX-NNNNN-of-NNNNN.parquet files as one table each (the
//     columns named PREFIX/column where there are several tables), each
//     datasets subfolder, its layers named subfolder/column, each
//     subfolder of such Parquet shards likewise, and
//     each subfolder holding .npy files as one layer named by the subfolder,
//     its .npy files (in lexical order) being shards joined on axis 0. Other
//     files, and names starting with '.', are ignored. Entries are taken in
//     lexical order. In S3, a key ending in '/' (or a key with no object
//     but objects under key + "/") is such a folder, its objects and the
//     prefixes one level down being its files and subfolders;
//   - in S3, a key with glob characters ('*', '?', '[': path.Match, '*'
//     not matching '/'): each matching object, as above.
//
// Headers are read and checked now, data only when a layer is opened; the
// files must not change in between. Layer names must be unique. Extension
// matching ignores case. Layers that opt.Layers leaves out are not read, so
// an unsupported tensor among them is no error.
//
// A layer's Source hands over chunks of the file's bytes as they are: mapped
// windows of uncompressed data (.npy, stored .npz members, safetensors), or
// pooled buffers of decompressed data (deflated .npz members). An .npz
// member's CRC-32 is checked as its data are read: the read that completes
// them (the last chunk; for ReadAt, whichever read fills the last gap)
// returns the mismatch. Chunks stay valid after the Source is closed, until
// released.
func Open(paths []string, opt Options) ([]profiler.Layer, error) {
	for _, g := range opt.Layers {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("%w: layer pattern %q: %v", profiler.ErrBadOption, g, err)
		}
	}
	matched := make([]bool, len(opt.Layers))
	sel := func(name string) bool {
		if len(opt.Layers) == 0 {
			return true
		}
		ok := false
		for i, g := range opt.Layers {
			if m, _ := path.Match(g, name); m {
				matched[i], ok = true, true
			}
		}
		return ok
	}
	var layers []profiler.Layer
	for _, p := range paths {
		ls, err := openPath(p, sel)
		if err != nil {
			return nil, err
		}
		layers = append(layers, ls...)
	}
	seen := make(map[string]string, len(layers))
	for _, l := range layers {
		if prev, dup := seen[l.Name]; dup {
			return nil, profiler.FileErrorf(l.Path, profiler.ErrFormat, "layer name %q is also a layer of %s", l.Name, prev)
		}
		seen[l.Name] = l.Path
	}
	for i, m := range matched {
		if !m {
			return nil, fmt.Errorf("%w: layer pattern %q matches no layer in %s", profiler.ErrBadOption, opt.Layers[i], strings.Join(paths, ", "))
		}
	}
	if len(layers) == 0 {
		if len(paths) == 1 {
			return nil, profiler.FileErrorf(paths[0], profiler.ErrFormat, "no layers: no .npy, .npz, .safetensors, .pt, .arrow or .parquet data found")
		}
		return nil, fmt.Errorf("%w: no layers in %s: no .npy, .npz, .safetensors, .pt, .arrow or .parquet data found", profiler.ErrFormat, strings.Join(paths, ", "))
	}
	return layers, nil
}

// fileKind returns the lower-case extension of a data file's name (".npy",
// ".npz", ".safetensors"), or "" for any other name.
func fileKind(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	switch ext {
	case ".npy", ".npz", ".safetensors", ".pt", ".pth":
		return ext
	case ".arrow", ".arrows", ".feather", ".ipc":
		return ".arrow"
	case ".parquet", ".pq":
		return ".parquet"
	}
	return ""
}

// openPath lists the layers of one path given to Open.
func openPath(p string, sel func(string) bool) ([]profiler.Layer, error) {
	st, err := storeFor(p)
	if err != nil {
		return nil, err
	}
	if g, ok := st.(globber); ok && g.IsPattern(p) {
		names, err := g.Glob(p)
		if err != nil {
			return nil, err
		}
		var layers []profiler.Layer
		for _, n := range names {
			if fileKind(n) == "" {
				continue
			}
			ls, err := openFile(n, sel)
			if err != nil {
				return nil, err
			}
			layers = append(layers, ls...)
		}
		return layers, nil
	}
	kind, err := st.Stat(p)
	if err != nil {
		return nil, err
	}
	switch kind {
	case kindDir:
		if isDatasetDir(st, p) {
			return openDataset(st, p, "", sel)
		}
		return openDir(st, p, sel)
	case kindOther:
		return nil, profiler.FileErrorf(p, profiler.ErrUnsupported, "not a regular file or folder")
	}
	if fileKind(p) == "" {
		return nil, profiler.FileErrorf(p, profiler.ErrUnsupported, "unknown file type: want .npy, .npz, .safetensors, .pt, .arrow, .parquet or a folder")
	}
	return openFile(p, sel)
}

// openFile lists the layers of a .npy, .npz, .safetensors, .pt, Arrow or
// Parquet file.
func openFile(p string, sel func(string) bool) ([]profiler.Layer, error) {
	base := filepath.Base(p)
	switch ext := fileKind(base); ext {
	case ".npy":
		name := base[:len(base)-len(ext)]
		if !sel(name) {
			return nil, nil
		}
		l, err := openNpy(p, name)
		if err != nil {
			return nil, err
		}
		return []profiler.Layer{l}, nil
	case ".npz":
		return openNpz(p, sel)
	case ".safetensors":
		return openSafetensors(p, sel)
	case ".pt", ".pth":
		return openPt(p, sel)
	case ".arrow":
		return openArrow(p, sel)
	case ".parquet":
		return openParquet(p, sel)
	}
	return nil, nil
}

// openDir lists the layers of a dataset folder.
func openDir(st store, dir string, sel func(string) bool) ([]profiler.Layer, error) {
	entries, err := st.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var layers []profiler.Layer
	groups, grouped := parquetShards(entries)
	for _, e := range entries {
		if !e.dir && grouped[e.path] != nil {
			g := grouped[e.path]
			if e.path != g.files[0] {
				continue
			}
			ls, err := g.open(st, dir, g.prefix(len(groups)), sel)
			if err != nil {
				return nil, err
			}
			layers = append(layers, ls...)
			continue
		}
		if !e.dir {
			ls, err := openFile(e.path, sel)
			if err != nil {
				return nil, err
			}
			layers = append(layers, ls...)
			continue
		}
		if isDatasetDir(st, e.path) {
			ls, err := openDataset(st, e.path, e.name+"/", sel)
			if err != nil {
				return nil, err
			}
			layers = append(layers, ls...)
			continue
		}
		sub, err := st.ReadDir(e.path)
		if err != nil {
			return nil, err
		}
		if pg, _ := parquetShards(sub); len(pg) > 0 {
			for _, g := range pg {
				ls, err := g.open(st, e.path, e.name+"/"+g.prefix(len(pg)), sel)
				if err != nil {
					return nil, err
				}
				layers = append(layers, ls...)
			}
			continue
		}
		var shards []string
		for _, s := range sub {
			if !s.dir && fileKind(s.name) == ".npy" {
				shards = append(shards, s.path)
			}
		}
		if len(shards) == 0 || !sel(e.name) {
			continue
		}
		l, err := openShards(e.path, e.name, shards)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	return layers, nil
}
