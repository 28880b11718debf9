// Encodes a text with Hugging Face's own JavaScript tokenizers (@huggingface/tokenizers, pinned in
// package.json) from a tokenizer.json, and writes the ids as little-endian uint32. tests/tools/
// test_lat_tokenize.cpp uses it to check that a tokenizer.json written by lat-tokenize train loads in HF's
// implementation and gives lat's ids.   Usage: node hf-encode.mjs TOKENIZER_JSON TEXT_FILE OUT_FILE
import fs from "node:fs";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { Tokenizer } = require("@huggingface/tokenizers");
const [jsonPath, textPath, outPath] = process.argv.slice(2);
if (!outPath) throw new Error("usage: node hf-encode.mjs TOKENIZER_JSON TEXT_FILE OUT_FILE");
const tokenizer = new Tokenizer(JSON.parse(fs.readFileSync(jsonPath, "utf8")), {});
const ids = tokenizer.encode(fs.readFileSync(textPath, "utf8"), { add_special_tokens: false }).ids;
const out = Buffer.alloc(4 * ids.length);
ids.forEach((id, i) => out.writeUInt32LE(id, 4 * i));
fs.writeFileSync(outPath, out);
