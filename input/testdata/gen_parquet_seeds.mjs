// Writes the seed corpus of FuzzParquet (testdata/fuzz/FuzzParquet): small
// Parquet files from parquet-wasm, of apache-arrow tables with fixed-size
// lists, lists of lists, float16/32/64 and a string column, in several row
// groups, compressed and not, version 1 and 2 data pages.
//
// Usage: ACTPROF_NODE_MODULES=$(bash ../../.ci/node-deps.sh) node gen_parquet_seeds.mjs
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.ACTPROF_NODE_MODULES, 'x.js'));
const A = require('apache-arrow');
const PQ = require('parquet-wasm');
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'fuzz', 'FuzzParquet');
fs.mkdirSync(out, { recursive: true });

const item = (t) => new A.Field('item', t, false);
const fsl = (h, n, t, arr) => A.makeData({ type: new A.FixedSizeList(h, item(t)), length: n, nullCount: 0,
  child: A.makeData({ type: t, length: n * h, nullCount: 0, data: arr }) });
const lists = (lens, child) => {
  const o = new Int32Array(lens.length + 1);
  lens.forEach((l, i) => { o[i + 1] = o[i] + l; });
  return A.makeData({ type: new A.List(item(child.type)), length: lens.length, nullCount: 0, valueOffsets: o, child });
};
const table = (cols) => {
  const schema = new A.Schema(Object.entries(cols).map(([k, d]) => new A.Field(k, d.type, false)));
  return new A.Table([new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: Object.values(cols)[0].length, nullCount: 0, children: Object.values(cols) }))]);
};
const f32 = (n) => Float32Array.from({ length: n }, (_, i) => ((i * 7) % 5) - 2);
const tables = {
  fsl: table({ a: fsl(3, 4, new A.Float32(), f32(12)), h: fsl(2, 4, new A.Float16(), Uint16Array.from([0x3c00, 0, 0xbc00, 0x4000, 0, 0, 0x3c00, 0x3c00])) }),
  nested: table({ r: lists([2, 0, 1, 1], lists([2, 2, 2, 2], A.makeData({ type: new A.Float64(), length: 8, nullCount: 0, data: Float64Array.from([1, -1, 0, 2, 3, -4, 5, 0]) }))) }),
  strings: table({ a: fsl(2, 2, new A.Float32(), f32(4)), s: A.vectorFromArray(['x', 'yz'], new A.Utf8()).data[0] }),
};
const variants = {
  plain: (b) => b.setCompression(PQ.Compression.UNCOMPRESSED).setDictionaryEnabled(false),
  snappy: (b) => b.setCompression(PQ.Compression.SNAPPY),
  zstd2: (b) => b.setCompression(PQ.Compression.ZSTD).setWriterVersion(PQ.WriterVersion.V2),
};
for (const [name, t] of Object.entries(tables)) {
  for (const [v, set] of Object.entries(variants)) {
    const props = set(new PQ.WriterPropertiesBuilder().setMaxRowGroupSize(2).setDataPageSizeLimit(64)).build();
    const b = PQ.writeParquet(PQ.Table.fromIPCStream(A.tableToIPC(t, 'stream')), props);
    let s = 'go test fuzz v1\n[]byte("';
    for (const x of b) s += '\\x' + x.toString(16).padStart(2, '0');
    fs.writeFileSync(path.join(out, `${name}-${v}`), s + '")\n');
  }
}
