// Writes the seed corpus of FuzzArrowMetadata (testdata/fuzz/FuzzArrowMetadata):
// small Arrow IPC streams and files from apache-arrow, with fixed-size
// lists, lists of lists, float16/32/64 and an int column.
//
// Usage: ACTPROF_NODE_MODULES=$(bash ../../.ci/node-deps.sh) node gen_arrow_seeds.mjs
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';

const require = createRequire(path.join(process.env.ACTPROF_NODE_MODULES, 'x.js'));
const A = require('apache-arrow');
const out = path.join(path.dirname(new URL(import.meta.url).pathname), 'fuzz', 'FuzzArrowMetadata');
fs.mkdirSync(out, { recursive: true });

const item = (t) => new A.Field('item', t, false);
const fsl = (h, n, t, arr) => A.makeData({ type: new A.FixedSizeList(h, item(t)), length: n, nullCount: 0,
  child: A.makeData({ type: t, length: n * h, nullCount: 0, data: arr }) });
const lists = (lens, child) => {
  const o = new Int32Array(lens.length + 1);
  lens.forEach((l, i) => { o[i + 1] = o[i] + l; });
  return A.makeData({ type: new A.List(item(child.type)), length: lens.length, nullCount: 0, valueOffsets: o, child });
};
const batch = (cols) => {
  const schema = new A.Schema(Object.entries(cols).map(([k, d]) => new A.Field(k, d.type, false)));
  return new A.RecordBatch(schema, A.makeData({ type: new A.Struct(schema.fields), length: Object.values(cols)[0].length, nullCount: 0, children: Object.values(cols) }));
};
const tables = {
  fsl: new A.Table([batch({ a: fsl(3, 2, new A.Float32(), new Float32Array([1, -1, 0, 2, 3, -4])) }),
    batch({ a: fsl(3, 1, new A.Float32(), new Float32Array([5, 0, -1])) })]),
  nested: new A.Table([batch({
    x: lists([2, 0, 1], lists([2, 2, 2], A.makeData({ type: new A.Float64(), length: 6, nullCount: 0, data: new Float64Array([1, 2, -3, 0, 5, 6]) }))),
    h: fsl(2, 3, new A.Float16(), new Uint16Array([0x3c00, 0xbc00, 0, 0x4000, 0x3c00, 0])),
    id: A.makeData({ type: new A.Int32(), length: 3, nullCount: 0, data: new Int32Array([1, 2, 3]) }),
  })]),
};
for (const [name, t] of Object.entries(tables)) {
  for (const fmt of ['stream', 'file']) {
    const b = Buffer.from(A.tableToIPC(t, fmt));
    let lit = '';
    for (const c of b) lit += '\\x' + c.toString(16).padStart(2, '0');
    fs.writeFileSync(path.join(out, `${name}-${fmt}`), `go test fuzz v1\n[]byte("${lit}")\n`);
  }
}
