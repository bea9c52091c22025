// tok-encode.mjs - reference ids for test-tokenizer from an independent
// implementation: @huggingface/tokenizers (the tokenizer library of
// transformers.js, pinned in tests/package-lock.json), reading the same
// tokenizer.json as the C tokenizer.
//
//   node tests/tok-encode.mjs TOKENIZER_JSON CHUNKS OUT
//
// CHUNKS: UTF-8 texts separated by NUL bytes. OUT: for each chunk, in order,
// int32 little-endian n followed by its n ids (add_special_tokens: false; added
// tokens written literally in the text are matched, as HF tokenizers does).
// Exit status: 0 ok, 1 error, 3 the npm package is not installed.
import fs from "node:fs";

const [tokPath, inPath, outPath] = process.argv.slice(2);
if (!outPath) { console.error("usage: node tests/tok-encode.mjs TOKENIZER_JSON CHUNKS OUT"); process.exit(1); }
let Tokenizer;
try {
    ({ Tokenizer } = await import("@huggingface/tokenizers"));
} catch (e) {
    console.error(`tok-encode: cannot load @huggingface/tokenizers (run "npm ci" in tests/): ${e.message}`);
    process.exit(3);
}
const json = JSON.parse(fs.readFileSync(tokPath, "utf8"));
const tok = new Tokenizer(json, {});
const chunks = fs.readFileSync(inPath, "utf8").split("\0");
const parts = [];
let nIds = 0;
for (const text of chunks) {
    const ids = tok.encode(text, { add_special_tokens: false }).ids;
    const b = Buffer.alloc(4 * (ids.length + 1));
    b.writeInt32LE(ids.length, 0);
    for (let i = 0; i < ids.length; i++) b.writeInt32LE(ids[i], 4 * (i + 1));
    parts.push(b);
    nIds += ids.length;
}
fs.writeFileSync(outPath, Buffer.concat(parts));
console.error(`tok-encode: ${chunks.length} chunks, ${nIds} ids`);
