package input

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/actprof/actprof/profiler"
)

// Arrow IPC files (.arrow, .arrows, .feather, .ipc: the stream or the file
// format, told apart by the file's magic) and Hugging Face datasets folders
// (save_to_disk: state.json naming data-XXXXX-of-YYYYY.arrow shards in the
// stream format). Each selected column is a layer named by the column; a
// dataset's shards are joined. Only metadata and list offsets are read when
// listing; the floats are read in place when counted.

// openArrow lists the layers of one Arrow IPC file.
func openArrow(path string, sel func(string) bool) ([]profiler.Layer, error) {
	return openArrowFiles(path, []string{path}, "", sel)
}

// openArrowFiles lists the layers of Arrow files holding the record
// batches of one table, in order (a dataset's shards, or one file), named
// prefix and the column name. where names them in messages.
func openArrowFiles(where string, files []string, prefix string, sel func(string) bool) ([]profiler.Layer, error) {
	t := &arrowTable{prefix: prefix, sel: sel, firstName: filepath.Base(files[0])}
	for fi, path := range files {
		f, size, err := openSized(path)
		if err != nil {
			return nil, err
		}
		err = t.scan(f, size, fi)
		f.Close()
		if err != nil {
			return nil, fileError(path, err)
		}
	}
	cols := t.cols
	var layers []profiler.Layer
	for _, c := range cols {
		if !c.known {
			return nil, profiler.FileErrorf(where, profiler.ErrShape, "column %q has no observations", c.name)
		}
		l := profiler.Layer{Name: prefix + c.name, Path: where, DType: c.dtype, Shape: []int{int(c.obs), int(c.units)}}
		if len(files) > 1 || files[0] != where {
			l.Files = files
		}
		segs := c.segs
		l.Open = func() (profiler.Source, error) { return newSegSource(files, segs), nil }
		layers = append(layers, l)
	}
	return layers, nil
}

// arrowTable collects the selected columns of the files of one table.
type arrowTable struct {
	prefix    string
	sel       func(string) bool
	firstName string // the first file's name, for messages
	first     *arrowSchema
	cols      []*arrowColumn
}

// scan adds the record batches of file number fi, of size bytes, read
// from r.
func (t *arrowTable) scan(r io.ReaderAt, size int64, fi int) error {
	var idx []int // each column's field index in this file's schema
	setup := func(s *arrowSchema) error {
		if idx != nil {
			return nil
		}
		if t.first == nil {
			t.first = s
			for _, a := range s.fields {
				if !t.sel(t.prefix + a.name) {
					continue
				}
				c, err := newArrowColumn(a.name, a)
				if err != nil {
					return err
				}
				t.cols = append(t.cols, c)
			}
		}
		idx = make([]int, len(t.cols))
		for i, c := range t.cols {
			idx[i] = fieldIndex(s, c.name)
			want := t.first.fields[fieldIndex(t.first, c.name)].typeName()
			switch {
			case idx[i] < 0:
				return fmt.Errorf("%w: no column %q, which %s has", ErrShardMismatch, c.name, t.firstName)
			case s.fields[idx[i]].typeName() != want:
				return fmt.Errorf("%w: column %q is %s, but %s has %s", ErrShardMismatch, c.name, s.fields[idx[i]].typeName(), t.firstName, want)
			}
		}
		return nil
	}
	schema, err := scanArrow(r, size, func(s *arrowSchema, b *arrowBatch, body int64) error {
		if err := setup(s); err != nil {
			return err
		}
		if len(t.cols) == 0 {
			return errStopScan
		}
		nodes, bufs := make([]int, len(s.fields)), make([]int, len(s.fields))
		node, buf, variadic := 0, 0, b.variadic
		for j, a := range s.fields {
			nodes[j], bufs[j] = node, buf
			if err := arrowLayout(a, s.version, &variadic, &node, &buf); err != nil {
				return err
			}
		}
		if node != len(b.nodes) || buf != len(b.buffers) {
			return fmt.Errorf("%w: a record batch of %d field nodes and %d buffers, where its schema has %d and %d", profiler.ErrFormat, len(b.nodes), len(b.buffers), node, buf)
		}
		for i, c := range t.cols {
			if err := c.addBatch(r, size, fi, b, body, nodes[idx[i]], bufs[idx[i]]); err != nil {
				return err
			}
		}
		return nil
	})
	if err == errStopScan {
		return nil
	}
	if err == nil && schema != nil {
		err = setup(schema)
	}
	return err
}

// errStopScan ends a scan early: no column of the file is read.
var errStopScan = fmt.Errorf("no columns selected")

// fieldIndex returns the index of the field named name, or -1.
func fieldIndex(s *arrowSchema, name string) int {
	for j, a := range s.fields {
		if a.name == name {
			return j
		}
	}
	return -1
}

// isDatasetDir reports whether dir is a Hugging Face datasets folder
// (save_to_disk): it holds state.json, or dataset_info.json beside
// data-XXXXX-of-YYYYY.arrow shards.
func isDatasetDir(st store, dir string) bool {
	if k, err := st.Stat(st.Join(dir, "state.json")); err == nil && k == kindFile {
		return true
	}
	if k, err := st.Stat(st.Join(dir, "dataset_info.json")); err != nil || k != kindFile {
		return false
	}
	entries, err := st.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		if !e.dir && hfShard.MatchString(e.name) {
			return true
		}
	}
	return false
}

var hfShard = regexp.MustCompile(`^data-(\d+)-of-(\d+)\.arrow$`)

// maxStateJSON bounds a datasets folder's state.json.
const maxStateJSON = 64 << 20

// datasetShards lists the .arrow shards of a datasets folder: those its
// state.json names, in its order, or else the data-XXXXX-of-YYYYY.arrow
// files, which must be all of them.
func datasetShards(st store, dir string) ([]string, error) {
	state := st.Join(dir, "state.json")
	if k, err := st.Stat(state); err == nil && k == kindFile {
		o, size, err := openSized(state)
		if err != nil {
			return nil, err
		}
		defer o.Close()
		if size > maxStateJSON {
			return nil, profiler.FileErrorf(state, profiler.ErrFormat, "%d bytes: not a datasets state.json", size)
		}
		raw := make([]byte, size)
		if err := readFull(o, size, raw, 0); err != nil {
			return nil, fileError(state, err)
		}
		var sj struct {
			DataFiles []struct {
				Filename string `json:"filename"`
			} `json:"_data_files"`
		}
		if err := json.Unmarshal(raw, &sj); err != nil {
			return nil, profiler.FileErrorf(state, profiler.ErrFormat, "not a datasets state.json: %v", err)
		}
		if len(sj.DataFiles) == 0 {
			return nil, profiler.FileErrorf(state, profiler.ErrFormat, "no _data_files listed")
		}
		var files []string
		for _, d := range sj.DataFiles {
			if d.Filename == "" || strings.ContainsAny(d.Filename, "/\\") || strings.HasPrefix(d.Filename, ".") {
				return nil, profiler.FileErrorf(state, profiler.ErrFormat, "data file %q: want a file name in the folder", d.Filename)
			}
			files = append(files, st.Join(dir, d.Filename))
		}
		return files, nil
	}
	entries, err := st.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var files []string
	total := ""
	for _, e := range entries {
		m := hfShard.FindStringSubmatch(e.name)
		if e.dir || m == nil {
			continue
		}
		if total != "" && m[2] != total {
			return nil, profiler.FileErrorf(e.path, ErrShardMismatch, "a shard of %s, where the others are of %s", m[2], total)
		}
		total = m[2]
		files = append(files, e.path)
	}
	if n := fmt.Sprint(len(files)); strings.TrimLeft(total, "0") != n {
		return nil, profiler.FileErrorf(dir, profiler.ErrFormat, "%d shards data-*-of-%s.arrow, and no state.json naming them", len(files), total)
	}
	return files, nil
}

// openDataset lists the layers of a datasets folder: its columns, named
// prefix and the column name.
func openDataset(st store, dir, prefix string, sel func(string) bool) ([]profiler.Layer, error) {
	files, err := datasetShards(st, dir)
	if err != nil {
		return nil, err
	}
	return openArrowFiles(dir, files, prefix, sel)
}
