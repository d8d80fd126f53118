// node add-metadata.mjs FILE.wasm VERSION DESCRIPTION
//
// Appends `version` and `description` custom sections to a component: what
// `wasm-tools metadata add --version … --description …` does, without
// needing wasm-tools. `hookwasm plugin list` shows them.
import { readFileSync, writeFileSync } from "node:fs";

const [file, version, description] = process.argv.slice(2);
if (!description) {
  console.error("usage: node add-metadata.mjs FILE.wasm VERSION DESCRIPTION");
  process.exit(2);
}

function leb128(n) {
  const out = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n) byte |= 0x80;
    out.push(byte);
  } while (n);
  return out;
}

function customSection(name, text) {
  const nameBytes = Buffer.from(name);
  const body = [...leb128(nameBytes.length), ...nameBytes, ...Buffer.from(text)];
  return Buffer.from([0, ...leb128(body.length), ...body]);
}

const wasm = readFileSync(file);
if (wasm.readUInt32LE(0) !== 0x6d736100) throw new Error(`${file} is not WebAssembly`);
writeFileSync(
  file,
  Buffer.concat([wasm, customSection("version", version), customSection("description", description)]),
);
