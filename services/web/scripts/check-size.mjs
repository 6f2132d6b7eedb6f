// Fails when the JavaScript the page ships is over the budget, gzipped (run after `vite build`).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const BUDGET_KB = 250;
const dir = new URL('../dist/assets/', import.meta.url).pathname;

let js = 0;
let css = 0;
for (const file of readdirSync(dir)) {
  if (file.endsWith('.map')) continue;
  const size = gzipSync(readFileSync(join(dir, file)), { level: 9 }).length;
  if (file.endsWith('.js')) js += size;
  else if (file.endsWith('.css')) css += size;
  console.log(`${(size / 1024).toFixed(1).padStart(7)} KB gz  ${file}`);
}
const kb = (n) => (n / 1024).toFixed(1);
console.log(`JavaScript ${kb(js)} KB gzipped (budget ${BUDGET_KB} KB); CSS ${kb(css)} KB gzipped`);
if (js > BUDGET_KB * 1024) {
  console.error(`over budget by ${kb(js - BUDGET_KB * 1024)} KB`);
  process.exit(1);
}
