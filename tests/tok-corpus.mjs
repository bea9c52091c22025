// tok-corpus.mjs - builds tests/fixtures/tokenizer-corpus.txt.xz, the text
// test-tokenizer compares against @huggingface/tokenizers (tok-encode.mjs).
//
//   node tests/tok-corpus.mjs OUT.txt && xz -9e -k OUT.txt
//
// Run once by hand on a Debian 12 machine; its output is committed, so the
// test never depends on this machine's files. Deterministic: files are read
// in sorted order and the generated parts come from a seeded PRNG.
//
// Format: documents separated by a NUL byte. Each document starts with the
// line "@@ CATEGORY NAME" (tokenized like the rest); test-tokenizer reports
// bytes per CATEGORY. Categories:
//   code      this repository's C/CUDA/GLSL/shell/JS sources and markdown
//   license   /usr/share/common-licenses (English legal prose)
//   prose-LL  translated messages (msgstr) of gettext catalogs, language LL:
//             real sentences in Latin, Cyrillic, Greek, Arabic, Hebrew,
//             Devanagari, Bengali, Tamil, Thai, CJK, Georgian, ... scripts
//   man-LL    translated man pages (troff source), language LL
//   numbers   seeded: integers, decimals, dates, hex, versions, phone numbers
//   spaces    seeded: runs of spaces, tabs, CR/LF, NBSP, U+3000, mixed with words
//   emoji     seeded: emoji, skin tones, ZWJ sequences, flags, keycaps
//   mixed     seeded: lines spliced from the prose of different scripts
// Nothing here writes special tokens such as <｜User｜>: cases.jsonl covers those.
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { execFileSync } from "node:child_process";

const out = process.argv[2];
if (!out) { console.error("usage: node tests/tok-corpus.mjs OUT.txt"); process.exit(2); }
const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

let seed = 20250601n;
function rnd(n) { // 64-bit LCG, high bits
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(seed >> 33n) % n;
}
const pick = (a) => a[rnd(a.length)];

const docs = [];
const add = (cat, name, text) => {
    text = text.replace(/\0/g, "");
    if (text.length) docs.push(`@@ ${cat} ${name}\n${text}`);
};

// ---- code: this repository (sorted, capped per file) -----------------------
const tracked = execFileSync("git", ["-C", root, "ls-files"], { encoding: "utf8" }).split("\n")
    .filter((f) => /\.(c|h|cu|cuh|comp|glsl|sh|mjs|md)$/.test(f) || f === "GNUmakefile")
    .filter((f) => !f.startsWith("tests/fixtures/")).sort();
let codeBytes = 0;
for (const f of tracked) {
    const p = path.join(root, f);
    if (codeBytes > 450000) break;
    const t = fs.readFileSync(p, "utf8").slice(0, 24000);
    codeBytes += Buffer.byteLength(t);
    add("code", path.relative(root, p), t);
}

// ---- license: English prose ---------------------------------------------------
for (const l of ["Apache-2.0", "GPL-3", "LGPL-2.1", "MPL-2.0", "Artistic", "BSD"])
    add("license", l, fs.readFileSync(`/usr/share/common-licenses/${l}`, "utf8"));

// ---- prose: msgstr of gettext catalogs ----------------------------------------
function moStrings(file) { // GNU .mo: magic, revision, N, off(originals), off(translations)
    const b = fs.readFileSync(file);
    const le = b.readUInt32LE(0) === 0x950412de;
    const u32 = (o) => le ? b.readUInt32LE(o) : b.readUInt32BE(o);
    const n = u32(8), tt = u32(16), res = [];
    for (let i = 0; i < n; i++) {
        const len = u32(tt + 8 * i), off = u32(tt + 8 * i + 4);
        const s = b.subarray(off, off + len).toString("utf8");
        if (s.includes("\ufffd") || s.startsWith("Project-Id-Version")) continue;
        for (const part of s.split("\0")) if (part.length > 1) res.push(part);
    }
    return res;
}
const langs = ["ar", "he", "hi", "th", "ja", "ko", "zh_CN", "zh_TW", "ru", "uk", "el", "bg", "ka", "hy", "am",
               "bn", "ta", "te", "ml", "kn", "gu", "pa", "mr", "ne", "fa", "vi", "tr", "de", "fr", "es", "pt",
               "pl", "cs", "it", "nl", "sv", "fi", "hu", "ro", "id", "km", "my", "si", "or", "sr", "be", "kk",
               "eu", "ca", "ga", "lt", "lv", "et", "sk", "hr", "mn", "yi", "ps", "ky"];
const catalogs = ["coreutils", "bash", "git", "glib20", "gtk20", "libc", "wget", "dpkg", "gnupg2", "tar",
                  "grep", "sed", "diffutils", "findutils", "iso_3166", "iso_639", "xkeyboard-config"];
const prose = {};
for (const l of langs) {
    const dir = `/usr/share/locale/${l}/LC_MESSAGES`;
    if (!fs.existsSync(dir)) continue;
    const budget = ["ar", "he", "hi", "th", "ja", "ko", "zh_CN", "ru", "el", "ka", "ta", "bn"].includes(l) ? 40000 : 18000;
    const seen = new Set(), lines = [];
    let bytes = 0;
    const files = catalogs.map((c) => `${dir}/${c}.mo`).filter((f) => fs.existsSync(f));
    for (const f of fs.readdirSync(dir).sort()) if (!files.includes(`${dir}/${f}`)) files.push(`${dir}/${f}`);
    for (const f of files) {
        if (bytes > budget) break;
        for (const s of moStrings(f)) {
            if (bytes > budget) break;
            if (seen.has(s)) continue;
            seen.add(s);
            lines.push(s);
            bytes += Buffer.byteLength(s) + 1;
        }
    }
    prose[l] = lines;
    for (let i = 0; i < lines.length; i += 60) add(`prose-${l}`, `${i / 60}`, lines.slice(i, i + 60).join("\n") + "\n");
}

// ---- man pages in other languages (troff source) ------------------------------
for (const l of ["ja", "ru", "zh_CN", "zh_TW", "ko", "uk", "de", "pl"]) {
    const dir = `/usr/share/man/${l}/man1`;
    if (!fs.existsSync(dir)) continue;
    let bytes = 0;
    for (const f of fs.readdirSync(dir).sort()) {
        if (bytes > 25000 || !f.endsWith(".gz")) continue;
        const t = zlib.gunzipSync(fs.readFileSync(`${dir}/${f}`)).toString("utf8");
        if (t.includes("\ufffd")) continue;
        bytes += Buffer.byteLength(t);
        add(`man-${l}`, f, t.slice(0, 12000));
    }
}

// ---- numbers -------------------------------------------------------------------
{
    const gens = [
        () => String(rnd(10 ** (1 + rnd(9)))),
        () => `${rnd(100000)}.${String(rnd(1000000)).padStart(1 + rnd(6), "0")}`,
        () => `${1900 + rnd(200)}-${String(1 + rnd(12)).padStart(2, "0")}-${String(1 + rnd(28)).padStart(2, "0")}`,
        () => "0x" + rnd(2 ** 31).toString(16).padStart(8, "0"),
        () => `v${rnd(20)}.${rnd(100)}.${rnd(1000)}`,
        () => `+${1 + rnd(99)} ${rnd(1000)} ${rnd(10000)} ${rnd(10000)}`,
        () => (rnd(2) ? "-" : "") + rnd(1000000).toLocaleString("en-US"),
        () => `${rnd(10)}.${rnd(1000)}e${rnd(2) ? "-" : "+"}${rnd(40)}`,
        () => String.fromCodePoint(...[...String(rnd(100000))].map((d) => pick([0x660, 0x966, 0xe50, 0xff10, 0x9e6]) + +d)),
        () => `${rnd(24)}:${String(rnd(60)).padStart(2, "0")}:${String(rnd(60)).padStart(2, "0")}`,
        () => `${rnd(100)}%`, () => `$${rnd(100000)}.${String(rnd(100)).padStart(2, "0")}`,
        () => pick(["½", "¾", "²", "³", "Ⅻ", "①", "⑳", "𝟙𝟚", "٣٫١٤", "一千二百", "১২৩"]),
    ];
    for (let d = 0; d < 8; d++) {
        let s = "";
        while (s.length < 6000) s += pick(gens)() + pick([" ", " ", ", ", "\n", "\t", "; ", "", " = ", " + "]);
        add("numbers", `${d}`, s);
    }
}

// ---- whitespace runs -------------------------------------------------------------
{
    const ws = [" ", "  ", "   ", "    ", "        ", "\t", "\t\t", "\n", "\n\n", "\r\n", "\r\n\r\n", " \n", "\n ",
                "\u00a0", "\u3000", "\u2009", "\u200b", " \t \n", "\r", "\v", "\f", "\n\n\n\n"];
    const words = ["word", "x", "if", "return", "Hello", "мир", "世界", "κόσμε", "!", "...", "{", "}", "//", "#", "- item", "1.", "=", "42"];
    for (let d = 0; d < 8; d++) {
        let s = "";
        while (s.length < 5000) s += pick(ws) + (rnd(4) ? pick(words) : "") + (rnd(6) ? "" : pick(ws) + pick(ws));
        add("spaces", `${d}`, s);
    }
}

// ---- emoji ----------------------------------------------------------------------
{
    const base = [];
    for (let c = 0x1f600; c < 0x1f650; c++) base.push(String.fromCodePoint(c));
    for (let c = 0x1f300; c < 0x1f5ff; c += 3) base.push(String.fromCodePoint(c));
    for (let c = 0x2600; c < 0x26ff; c += 5) base.push(String.fromCodePoint(c));
    const tones = ["\u{1f3fb}", "\u{1f3fc}", "\u{1f3fd}", "\u{1f3fe}", "\u{1f3ff}"];
    const zwj = ["👨‍👩‍👧‍👦", "👩‍💻", "🏳️‍🌈", "🧑🏽‍🚀", "❤️‍🔥", "👁️‍🗨️", "🐻‍❄️"];
    const flags = ["🇩🇪", "🇯🇵", "🇧🇷", "🇺🇸", "🇮🇳", "🇫🇷", "🇰🇷", "🇪🇬"];
    const words = ["ok", "great", "寿司", "спасибо", "شكرا", "lol", "!!", "#1", "5*", "?"];
    for (let d = 0; d < 6; d++) {
        let s = "";
        while (s.length < 4000) {
            const k = rnd(10);
            if (k < 4) s += pick(base);
            else if (k < 5) s += pick(["👍", "👋", "✋", "🙏", "💪"]) + pick(tones);
            else if (k < 6) s += pick(zwj);
            else if (k < 7) s += pick(flags);
            else if (k < 8) s += pick(["1", "#", "*"]) + "\ufe0f\u20e3";
            else s += pick([" ", " ", "\n", ""]) + pick(words) + pick([" ", ""]);
        }
        add("emoji", `${d}`, s);
    }
}

// ---- mixed: lines spliced across scripts -----------------------------------------
{
    const ls = Object.keys(prose).filter((l) => prose[l].length > 20);
    const glue = ["", " ", "", "(", ") ", ": ", "\n", "—", "«", "»", "、", "。", " - ", "/", "'", "\""];
    for (let d = 0; d < 40; d++) {
        let s = "";
        while (s.length < 3000) {
            const line = [...pick(prose[pick(ls)])];   // code points
            const a = rnd(line.length), b = Math.min(line.length, a + 1 + rnd(40));
            s += line.slice(a, b).join("") + pick(glue);
        }
        add("mixed", `${d}`, s);
    }
}

fs.writeFileSync(out, docs.join("\0"));
const bycat = {};
for (const d of docs) { const c = d.slice(3, d.indexOf(" ", 3)).replace(/-.*/, ""); bycat[c] = (bycat[c] || 0) + Buffer.byteLength(d); }
console.log(`${docs.length} documents, ${Buffer.byteLength(docs.join("\0"))} bytes`, bycat);
