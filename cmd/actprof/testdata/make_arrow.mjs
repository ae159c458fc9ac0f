// Writes the Arrow IPC and Parquet files of the reader tests from the raw
// values and the spec.json that make_arrow_ref.py wrote, with apache-arrow
// (record batches, stream and file formats) and parquet-wasm (row groups):
// writers independent of actprof's readers.
//
// Usage: node make_arrow.mjs DIR   (NODE_PATH: the folder holding them)
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.ACTPROF_NODE_MODULES, 'x.js'));
const A = require('apache-arrow');
const PQ = require('parquet-wasm');

const dir = process.argv[2];
const spec = JSON.parse(fs.readFileSync(path.join(dir, 'spec.json')));

const floatType = { float32: () => new A.Float32(), float16: () => new A.Float16(), float64: () => new A.Float64() };
const arrayOf = { float32: Float32Array, float16: Uint16Array, float64: Float64Array };

// column data for rows [r0, r1) of column c, whose values v hold the
// observations of all rows in order
function columnData(c, v, r0, r1) {
  const n = r1 - r0;
  const h = c.h;
  const before = c.t.slice(0, r0).reduce((a, b) => a + b, 0);
  const ts = c.t.slice(r0, r1);
  const obs = ts.reduce((a, b) => a + b, 0);
  if (c.kind === 'int32') {
    const d = new Int32Array(n);
    for (let i = 0; i < n; i++) d[i] = r0 + i;
    return A.makeData({ type: new A.Int32(), length: n, nullCount: 0, data: d });
  }
  if (c.kind === 'utf8') {
    return A.vectorFromArray(ts.map((_, i) => `row ${r0 + i}`), new A.Utf8()).data[0];
  }
  if (c.kind === 'ragged') {
    // lists of h floats, but for two rows of h + 1 and h - 1
    const lens = ts.map((_, i) => (r0 + i === 3 ? h + 1 : r0 + i === 5 ? h - 1 : h));
    const o = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) o[i + 1] = o[i] + lens[i];
    const child = A.makeData({ type: new A.Float32(), length: o[n], nullCount: 0, data: new Float32Array(o[n]).fill(1) });
    return A.makeData({ type: new A.List(new A.Field('item', new A.Float32(), false)), length: n, nullCount: 0, valueOffsets: o, child });
  }
  if (c.kind === 'ragged2') {
    // two lists of h floats a row, but for one of h + 1
    const lens = new Array(2 * n).fill(h);
    if (r0 === 0) lens[5] = h + 1;
    const o = new Int32Array(2 * n + 1);
    for (let i = 0; i < 2 * n; i++) o[i + 1] = o[i] + lens[i];
    const leaf = A.makeData({ type: new A.Float32(), length: o[2 * n], nullCount: 0, data: new Float32Array(o[2 * n]).fill(1) });
    const inner = A.makeData({ type: new A.List(new A.Field('item', new A.Float32(), false)), length: 2 * n, nullCount: 0, valueOffsets: o, child: leaf });
    const outer = new Int32Array(n + 1);
    for (let i = 0; i < n; i++) outer[i + 1] = outer[i] + 2;
    return A.makeData({ type: new A.List(new A.Field('item', inner.type, false)), length: n, nullCount: 0, valueOffsets: outer, child: inner });
  }
  if (c.kind === 'nullfsl') {
    const child = A.makeData({ type: new A.Float32(), length: n * h, nullCount: 0, data: new Float32Array(n * h).fill(1) });
    const bitmap = new Uint8Array(Math.ceil(n / 8)).fill(0xff);
    bitmap[0] &= ~2; // row 1 is null
    return A.makeData({ type: new A.FixedSizeList(h, new A.Field('item', new A.Float32(), false)), length: n, nullCount: 1, nullBitmap: bitmap, child });
  }
  const ft = floatType[c.dtype]();
  const leaf = (count, at) => A.makeData({ type: ft, length: count * h, nullCount: 0, data: v.subarray(at * h, (at + count) * h) });
  const item = (t) => new A.Field('item', t, false);
  const offsets = (lens) => {
    const o = new Int32Array(lens.length + 1);
    for (let i = 0; i < lens.length; i++) o[i + 1] = o[i] + lens[i];
    return o;
  };
  switch (c.kind) {
    case 'fsl':
      return A.makeData({ type: new A.FixedSizeList(h, item(ft)), length: n, nullCount: 0, child: leaf(n, before) });
    case 'list':
      return A.makeData({ type: new A.List(item(ft)), length: n, nullCount: 0, valueOffsets: offsets(ts.map(() => h)), child: leaf(n, before) });
    case 'list_fsl': {
      const inner = A.makeData({ type: new A.FixedSizeList(h, item(ft)), length: obs, nullCount: 0, child: leaf(obs, before) });
      return A.makeData({ type: new A.List(item(inner.type)), length: n, nullCount: 0, valueOffsets: offsets(ts), child: inner });
    }
    case 'list_list': {
      const inner = A.makeData({ type: new A.List(item(ft)), length: obs, nullCount: 0, valueOffsets: offsets(new Array(obs).fill(h)), child: leaf(obs, before) });
      return A.makeData({ type: new A.List(item(inner.type)), length: n, nullCount: 0, valueOffsets: offsets(ts), child: inner });
    }
  }
  throw new Error(`unknown kind ${c.kind}`);
}

for (const f of spec) {
  const vals = f.columns.map((c) => {
    if (!c.raw) return null;
    const b = fs.readFileSync(c.raw);
    const T = arrayOf[c.dtype];
    return new T(b.buffer, b.byteOffset, b.byteLength / T.BYTES_PER_ELEMENT);
  });
  const batches = [];
  let r0 = 0;
  let schema;
  for (const n of f.batches) {
    const children = f.columns.map((c, i) => columnData(c, vals[i], r0, r0 + n));
    schema = new A.Schema(f.columns.map((c, i) => new A.Field(c.name, children[i].type, c.kind === 'nullfsl')));
    const data = A.makeData({ type: new A.Struct(schema.fields), length: n, nullCount: 0, children });
    batches.push(new A.RecordBatch(schema, data));
    r0 += n;
  }
  const table = new A.Table(batches);
  const out = path.join(dir, f.out);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  if (f.format === 'parquet') {
    const wt = PQ.Table.fromIPCStream(A.tableToIPC(table, 'stream'));
    // snappy, version 1 data pages, dictionaries where they pay unless
    // the spec says otherwise
    const pq = f.parquet || {};
    let b = new PQ.WriterPropertiesBuilder()
      .setCompression(PQ.Compression[(pq.compression || 'snappy').toUpperCase()])
      .setWriterVersion(pq.version === 2 ? PQ.WriterVersion.V2 : PQ.WriterVersion.V1)
      .setMaxRowGroupSize(f.batches[0])
      .setDataPageSizeLimit(pq.page || 1024);
    if (pq.dictionary === false) b = b.setDictionaryEnabled(false);
    if (pq.encoding) b = b.setEncoding(PQ.Encoding[pq.encoding]);
    const props = b.build();
    fs.writeFileSync(out, PQ.writeParquet(wt, props));
  } else {
    fs.writeFileSync(out, A.tableToIPC(table, f.format));
  }
}
