#!/usr/bin/env node
// gguf-check.mjs - reads GGUF files with an independent parser (npm
// @huggingface/gguf) and compares them with the description our reader wrote.
//
//   node tests/gguf-check.mjs DESC.json     compare every file listed in DESC.json
//   node tests/gguf-check.mjs --dump F.gguf print what the independent parser sees
//
// DESC.json (written by build/bin/test-gguf from gds_gguf_open):
//   { "files": [ { "path", "version", "alignment", "data_offset",
//                  "kv": [ { "key", "type", "subtype"?, "value" } ],
//                  "tensors": [ { "name", "type", "shape": [..], "offset" } ] } ] }
// Value encoding: 64-bit integers as decimal strings, floats as JSON numbers
// (or "NaN"/"Infinity"/"-Infinity"), bools, strings, arrays of those.
// Keys are compared as a set with types and values; tensors in file order.
// Prints one line per file and "gguf-check: N passed, M failed"; exit 1 on failure.
// Setup: cd tests && npm ci (versions pinned in tests/package-lock.json; node_modules is git-ignored).
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "package.json"));
const { gguf } = require("@huggingface/gguf");

const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 };
const HEADER_KEYS = new Set(["version", "tensor_count", "kv_count"]);

function same(type, expected, actual) {
    if (type === T.U64 || type === T.I64) return typeof actual === "bigint" && actual.toString() === String(expected);
    if (type === T.F32) return Object.is(Math.fround(Number(expected)), Math.fround(actual));
    if (type === T.F64) return Object.is(Number(expected), actual);
    return expected === actual;
}

function show(v) {
    const s = JSON.stringify(v, (_, x) => (typeof x === "bigint" ? x.toString() : x));
    return s.length > 120 ? s.slice(0, 117) + "..." : s;
}

async function parse(path) {
    return gguf(path, { allowLocalFile: true, typedMetadata: true });
}

async function checkFile(d) {
    const errs = [];
    const err = (m) => { if (errs.length < 20) errs.push(m); };
    const r = await parse(d.path);
    const md = r.typedMetadata;
    if (md.version.value !== d.version) err(`version ${md.version.value} != ${d.version}`);
    if (BigInt(md.kv_count.value) !== BigInt(d.kv.length)) err(`kv_count ${md.kv_count.value} != ${d.kv.length}`);
    if (BigInt(md.tensor_count.value) !== BigInt(d.tensors.length)) err(`tensor_count ${md.tensor_count.value} != ${d.tensors.length}`);
    if (r.tensorDataOffset !== BigInt(d.data_offset)) err(`data offset ${r.tensorDataOffset} != ${d.data_offset}`);
    const seen = new Set();
    for (const kv of d.kv) {
        seen.add(kv.key);
        const a = md[kv.key];
        if (!a) { err(`key '${kv.key}' missing`); continue; }
        if (a.type !== kv.type) { err(`key '${kv.key}': type ${a.type} != ${kv.type}`); continue; }
        if (kv.type === T.ARRAY) {
            if (a.subType !== kv.subtype) { err(`key '${kv.key}': element type ${a.subType} != ${kv.subtype}`); continue; }
            if (!Array.isArray(a.value) || a.value.length !== kv.value.length) {
                err(`key '${kv.key}': array length ${a.value?.length} != ${kv.value.length}`);
                continue;
            }
            const bad = kv.value.findIndex((x, j) => !same(kv.subtype, x, a.value[j]));
            if (bad >= 0) err(`key '${kv.key}'[${bad}]: ${show(a.value[bad])} != ${show(kv.value[bad])}`);
        } else if (!same(kv.type, kv.value, a.value)) {
            err(`key '${kv.key}': ${show(a.value)} != ${show(kv.value)}`);
        }
    }
    for (const k of Object.keys(md)) if (!HEADER_KEYS.has(k) && !seen.has(k)) err(`extra key '${k}'`);
    const ti = r.tensorInfos;
    if (ti.length !== d.tensors.length) err(`${ti.length} tensor infos != ${d.tensors.length}`);
    for (let i = 0; i < Math.min(ti.length, d.tensors.length); i++) {
        const e = d.tensors[i], a = ti[i];
        const shape = a.shape.map((x) => x.toString()).join(",");
        if (a.name !== e.name) err(`tensor #${i}: name '${a.name}' != '${e.name}'`);
        if (a.dtype !== e.type) err(`tensor '${e.name}': type ${a.dtype} != ${e.type}`);
        if (a.n_dims !== e.shape.length || shape !== e.shape.join(",")) err(`tensor '${e.name}': shape [${shape}] != [${e.shape}]`);
        if (a.offset !== BigInt(e.offset)) err(`tensor '${e.name}': offset ${a.offset} != ${e.offset}`);
    }
    return errs;
}

async function main() {
    const args = process.argv.slice(2);
    if (args[0] === "--dump") {
        for (const p of args.slice(1)) {
            const r = await parse(p);
            console.log(`${p}: data offset ${r.tensorDataOffset}`);
            for (const [k, v] of Object.entries(r.typedMetadata))
                console.log(`  kv ${k} type ${v.type}${v.subType !== undefined ? "/" + v.subType : ""} = ${show(v.value)}`);
            for (const t of r.tensorInfos) console.log(`  tensor ${t.name} type ${t.dtype} shape [${t.shape}] offset ${t.offset}`);
        }
        return 0;
    }
    if (args.length !== 1) {
        console.error("usage: node tests/gguf-check.mjs DESC.json | --dump FILE.gguf...");
        return 2;
    }
    const desc = JSON.parse(readFileSync(args[0], "utf8"));
    let pass = 0, fail = 0;
    for (const d of desc.files) {
        let errs;
        try { errs = await checkFile(d); } catch (e) { errs = [`independent parser threw: ${e.message}`]; }
        if (errs.length) {
            fail++;
            console.log(`FAIL ${d.path}`);
            for (const m of errs) console.log(`    ${m}`);
        } else {
            pass++;
            console.log(`ok   ${d.path}: ${d.kv.length} keys, ${d.tensors.length} tensors identical`);
        }
    }
    console.log(`gguf-check: ${pass} passed, ${fail} failed`);
    return fail ? 1 : 0;
}

main().then((rc) => process.exit(rc), (e) => { console.error(`gguf-check: ${e.stack || e}`); process.exit(2); });
