import { readFileSync } from 'node:fs';
import { readElf } from './src/elf/read-elf.js';
const [h, ...ps] = process.argv.slice(2).map((p) => readElf(readFileSync(p)).goPackageHashes);
console.log(Object.keys(h!).length, h!['example.com/shared']);
for (const p of ps) console.log(Object.keys(p).length, p['example.com/shared'], Object.keys(p).filter((k) => k in h! && p[k] !== h![k]));
