import fc from 'fast-check';

/**
 * Random mutations of valid inputs, as fast-check arbitraries. A mutation is data (positions as
 * fractions of the length, so one mutation applies to any input and shrinks well) and `apply*`
 * turns it into a new input; the valid input itself is never changed.
 */

/** Values that break parsers: wrong types, huge and negative numbers, paths that escape. */
export const NASTY_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, -0, 1.5, 0.1, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e308, -1e308, 2 ** 64,
  '', ' ', '0', '-1', '1e400', 'NaN', '../../../etc/passwd', '/etc/passwd', 'C:\\x', 'http://evil/x', '\u0000',
  'x'.repeat(300), [], [-1], [2 ** 53], [0, 2 ** 62], [1, 2, 3, 4, 5, 6, 7, 8, 9], {}, { a: 1 }, { __proto__: 1 },
];

export type ByteMutation =
  | { readonly op: 'flip'; readonly at: number; readonly xor: number }
  | { readonly op: 'truncate'; readonly at: number }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'splice'; readonly from: number; readonly to: number; readonly length: number }
  | { readonly op: 'huge'; readonly at: number; readonly width: 1 | 4 | 8 | 10; readonly value: bigint };

/** A position as a fraction of the length, uniform (fast-check's default bias piles doubles near 0). */
const fraction = fc.noBias(fc.integer({ min: 0, max: 1_000_000 })).map((i) => i / 1_000_001);

/** Big or boundary values written over the bytes at a position: lengths, sizes and counts. */
const hugeValue = fc.oneof(
  fc.constantFrom(0n, 1n, 0x7fn, 0x80n, 0xffn, 0x7fffffffn, 0xffffffffn, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n),
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
);

export const byteMutation: fc.Arbitrary<ByteMutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fraction, xor: fc.integer({ min: 1, max: 255 }) }),
  fc.record({ op: fc.constant('truncate' as const), at: fraction }),
  fc.record({ op: fc.constant('insert' as const), at: fraction, bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
  fc.record({ op: fc.constant('delete' as const), at: fraction, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('splice' as const), from: fraction, to: fraction, length: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ op: fc.constant('huge' as const), at: fraction, width: fc.constantFrom(1 as const, 4 as const, 8 as const, 10 as const), value: hugeValue }),
);

export const byteMutations = fc.array(byteMutation, { minLength: 1, maxLength: 4 });

function applyOne(bytes: Uint8Array, m: ByteMutation): Uint8Array {
  const n = bytes.byteLength;
  const pos = (f: number): number => Math.floor(f * (n + 1));
  switch (m.op) {
    case 'flip': {
      if (n === 0) return bytes;
      const out = bytes.slice();
      const i = Math.min(n - 1, pos(m.at));
      out[i] = (out[i] ?? 0) ^ m.xor;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, pos(m.at));
    case 'insert': {
      const i = pos(m.at);
      const out = new Uint8Array(n + m.bytes.byteLength);
      out.set(bytes.subarray(0, i));
      out.set(m.bytes, i);
      out.set(bytes.subarray(i), i + m.bytes.byteLength);
      return out;
    }
    case 'delete': {
      const i = pos(m.at);
      const out = new Uint8Array(n - Math.min(m.length, n - Math.min(i, n)));
      out.set(bytes.subarray(0, i));
      out.set(bytes.subarray(i + m.length), i);
      return out;
    }
    case 'splice': {
      // A copy of one region of the file written over another (a duplicated or moved field).
      const from = pos(m.from);
      const piece = bytes.slice(from, from + m.length);
      const out = bytes.slice();
      const to = Math.min(pos(m.to), Math.max(0, n - piece.byteLength));
      out.set(piece.subarray(0, Math.max(0, n - to)), to);
      return out;
    }
    case 'huge': {
      const out = bytes.slice();
      const at = pos(m.at);
      const encoded = m.width === 10 ? varint(m.value) : littleEndian(m.value, m.width);
      for (let i = 0; i < encoded.length && at + i < n; i++) out[at + i] = encoded[i] ?? 0;
      return out;
    }
  }
}

function littleEndian(value: bigint, width: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < width; i++) out.push(Number((value >> BigInt(8 * i)) & 0xffn));
  return out;
}

/** A protobuf varint, so a mutation can plant a huge length where a field's length was. */
function varint(value: bigint): number[] {
  const out: number[] = [];
  let v = value;
  do {
    const low = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v > 0n ? low | 0x80 : low);
  } while (v > 0n);
  return out;
}

export function applyBytes(bytes: Uint8Array, mutations: readonly ByteMutation[]): Uint8Array {
  // A plain copy first: a Node Buffer's slice() is a view, so mutating it would change the input.
  return mutations.reduce(applyOne, new Uint8Array(bytes));
}

export type JsonMutation =
  | { readonly op: 'replace'; readonly at: number; readonly value: unknown }
  | { readonly op: 'delete'; readonly at: number }
  | { readonly op: 'copy'; readonly from: number; readonly to: number }
  | { readonly op: 'rename'; readonly at: number; readonly name: string };

const jsonReplacement = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...NASTY_VALUES) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  { weight: 1, arbitrary: fc.integer({ min: -1000, max: 1 << 20 }) },
);

export const jsonMutation: fc.Arbitrary<JsonMutation> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fraction, value: jsonReplacement }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fraction }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('copy' as const), from: fraction, to: fraction }) },
  {
    weight: 1,
    arbitrary: fc.record({ op: fc.constant('rename' as const), at: fraction, name: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', '..', '')) }),
  },
);

export const jsonMutations = fc.array(jsonMutation, { minLength: 1, maxLength: 4 });

type Path = readonly (string | number)[];

/** Every path in a JSON value, the root first, in a stable order. */
function paths(value: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...at, i], out));
  else if (typeof value === 'object' && value !== null) for (const [k, v] of Object.entries(value)) paths(v, [...at, k], out);
  return out;
}

function get(root: unknown, path: Path): unknown {
  let node = root;
  for (const step of path) node = (node as Record<string | number, unknown>)[step];
  return node;
}

/** Applies the mutations to a deep copy; a path picks one node of the current tree by fraction. */
export function applyJson<T>(valid: T, mutations: readonly JsonMutation[]): unknown {
  let root: unknown = structuredClone(valid);
  for (const m of mutations) {
    const all = paths(root);
    const pick = (f: number): Path => all[Math.min(all.length - 1, Math.floor(f * all.length))] ?? [];
    const target = m.op === 'copy' ? pick(m.to) : pick(m.at);
    const value = m.op === 'replace' ? structuredClone(m.value) : m.op === 'copy' ? structuredClone(get(root, pick(m.from))) : undefined;
    if (target.length === 0) {
      if (m.op === 'replace' || m.op === 'copy') root = value;
      continue;
    }
    const parent = get(root, target.slice(0, -1)) as Record<string | number, unknown> | unknown[];
    const last = target[target.length - 1] as string | number;
    if (m.op === 'delete') {
      if (Array.isArray(parent)) parent.splice(Number(last), 1);
      else delete parent[last as string];
    } else if (m.op === 'rename') {
      if (Array.isArray(parent)) continue;
      const v = parent[last as string];
      delete parent[last as string];
      Object.defineProperty(parent, m.name, { value: v, enumerable: true, writable: true, configurable: true });
    } else {
      (parent as Record<string | number, unknown>)[last] = value;
    }
  }
  return root;
}

export type StringMutation =
  | { readonly op: 'insert'; readonly at: number; readonly text: string }
  | { readonly op: 'delete'; readonly at: number; readonly length: number }
  | { readonly op: 'repeat'; readonly at: number; readonly length: number; readonly times: number };

/** Text likely to hit tokenizer and weight-syntax edge cases. */
const nastyText = fc.oneof(
  fc.string({ maxLength: 12, unit: 'binary' }),
  fc.string({ maxLength: 12, unit: 'grapheme' }),
  fc.constantFrom('(', ')', '\\(', '\\)', ':', ':1.5', ':-inf', ':nan', ':1e309', '((((', '))))', '\u0000', '\u0000\u0001', '\ud800', '\udc00',
    '<|startoftext|>', '<|endoftext|>', '</s>', '<pad>', '<unk>', '<extra_id_0>', '\u200b', '\u0301', '\r\n', '\t', '\u3000', '\ufeff', '🇯🇵', '👨‍👩‍👧'),
);

export const stringMutation: fc.Arbitrary<StringMutation> = fc.oneof(
  fc.record({ op: fc.constant('insert' as const), at: fraction, text: nastyText }),
  fc.record({ op: fc.constant('delete' as const), at: fraction, length: fc.integer({ min: 1, max: 20 }) }),
  fc.record({ op: fc.constant('repeat' as const), at: fraction, length: fc.integer({ min: 1, max: 8 }), times: fc.integer({ min: 2, max: 400 }) }),
);

export const stringMutations = fc.array(stringMutation, { minLength: 1, maxLength: 6 });

export function applyString(text: string, mutations: readonly StringMutation[]): string {
  let s = text;
  for (const m of mutations) {
    const i = Math.floor(m.at * (s.length + 1));
    if (m.op === 'insert') s = s.slice(0, i) + m.text + s.slice(i);
    else if (m.op === 'delete') s = s.slice(0, i) + s.slice(i + m.length);
    else s = s.slice(0, i) + s.slice(i, i + m.length).repeat(m.times) + s.slice(i + m.length);
  }
  return s;
}
