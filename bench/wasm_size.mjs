#!/usr/bin/env node
// What a wasm module is made of: its code by crate (from the function names), and its data.
// For deciding what to cut from a build that is too large to download.
//
//   node bench/wasm_size.mjs WASM [--top=N]
//     WASM     a module with a name section. The page's builds have none (scripts/build.sh
//              removes it); bind a cargo build again with names:
//                source scripts/env.sh && wasm-bindgen --target web --no-typescript \
//                  --out-dir /tmp/named $CARGO_TARGET_DIR/wasm32-unknown-unknown/PROFILE/bertweb.wasm
//              and pass /tmp/named/bertweb_bg.wasm. PROFILE is wasm-webgpu for pkg/; release
//              holds the CPU build scripts/build.sh made last, pkg/cpu/.
//     --top=N  crates listed (default 30)
//
// Sizes are of the code as stored (raw bytes); gzip shrinks every crate's code by a similar
// factor, so the shares hold for the download too.

import { readFileSync } from 'node:fs';

const SECTION = { import: 2, code: 10, data: 11, custom: 0 };
const IMPORT_FUNCTION = 0;

/** A reader of LEB128 numbers, names and bytes over `bytes` from `offset`. */
function reader(bytes, offset) {
  const r = {
    offset,
    byte: () => bytes[r.offset++],
    u32() {
      let value = 0;
      let shift = 0;
      let byte;
      do {
        byte = bytes[r.offset++];
        value += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      return value;
    },
    name() {
      const length = r.u32();
      const text = new TextDecoder().decode(bytes.subarray(r.offset, r.offset + length));
      r.offset += length;
      return text;
    },
    limits() {
      const flags = r.u32();
      r.u32();
      if (flags & 1) r.u32();
    },
  };
  return r;
}

/** The module's sections as {id, name (custom sections), start, size}. */
function sections(bytes) {
  const r = reader(bytes, 8);
  const list = [];
  while (r.offset < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const start = r.offset;
    const name = id === SECTION.custom ? reader(bytes, start).name() : null;
    list.push({ id, name, start, size });
    r.offset = start + size;
  }
  return list;
}

/** Imported functions come first in the function index space. */
function importedFunctions(bytes, section) {
  if (!section) return 0;
  const r = reader(bytes, section.start);
  let functions = 0;
  for (let count = r.u32(); count > 0; count--) {
    r.name();
    r.name();
    const kind = r.byte();
    if (kind === IMPORT_FUNCTION) {
      r.u32();
      functions++;
    } else if (kind === 1) {
      r.byte(); // table: element type, then limits
      r.limits();
    } else if (kind === 2) {
      r.limits(); // memory
    } else if (kind === 3) {
      r.byte(); // global: value type, mutability
      r.byte();
    } else if (kind === 4) {
      r.byte(); // tag: attribute, type index
      r.u32();
    }
  }
  return functions;
}

/** Function index → name, from the name section's function names. */
function functionNames(bytes, section) {
  const names = new Map();
  if (!section) return names;
  const r = reader(bytes, section.start);
  r.name();
  while (r.offset < section.start + section.size) {
    const id = r.byte();
    const size = r.u32();
    const end = r.offset + size;
    if (id === 1) {
      for (let count = r.u32(); count > 0; count--) {
        const index = r.u32();
        names.set(index, r.name());
      }
    }
    r.offset = end;
  }
  return names;
}

/** The crate a demangled Rust name belongs to: `<burn_flex::X as Y>::f` → burn_flex. */
function crateOf(name) {
  const path = name.replace(/^[<&*\s]+(mut\s+|dyn\s+)?/, '');
  return path.split('::')[0].replace(/\[[0-9a-f]+\]$/, '') || '(unnamed)';
}

function main() {
  const [file, ...flags] = process.argv.slice(2);
  if (!file) {
    console.error('usage: node bench/wasm_size.mjs WASM [--top=N]');
    process.exit(2);
  }
  const top = Number(flags.find((f) => f.startsWith('--top='))?.slice(6) ?? 30);
  const bytes = readFileSync(file);
  const list = sections(bytes);
  const code = list.find((s) => s.id === SECTION.code);
  const nameSection = list.find((s) => s.id === SECTION.custom && s.name === 'name');
  if (!code) throw new Error(`${file} has no code section`);
  if (!nameSection)
    console.log(`${file} has no name section: every function is "(unnamed)" (see the header of this script)`);
  const imported = importedFunctions(
    bytes,
    list.find((s) => s.id === SECTION.import),
  );
  const names = functionNames(bytes, nameSection);

  const byCrate = new Map();
  const r = reader(bytes, code.start);
  const functions = r.u32();
  let total = 0;
  for (let i = 0; i < functions; i++) {
    const size = r.u32();
    r.offset += size;
    const crate = crateOf(names.get(imported + i) ?? '');
    byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
    total += size;
  }
  const mib = (n) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const data = list.filter((s) => s.id === SECTION.data).reduce((sum, s) => sum + s.size, 0);
  console.log(
    `${file}: ${mib(bytes.length)}; code ${mib(total)} in ${functions} functions, data ${mib(data)}`,
  );
  console.log(`${'code'.padStart(10)}  share  crate`);
  for (const [crate, size] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${mib(size).padStart(10)}  ${((100 * size) / total).toFixed(1).padStart(4)} %  ${crate}`);
  }
}

main();
