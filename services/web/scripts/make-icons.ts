// Renders public/icon.svg into the PNG icons the web app manifest and iOS ask for, in headless
// Chromium (the one the end-to-end tests use), so that no image tool is needed:
//   npx tsx scripts/make-icons.ts
// The PNGs are committed; run this again after changing the SVG.
import { readFileSync, writeFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const svg = readFileSync(new URL('../public/icon.svg', import.meta.url), 'utf8');
const sizes = [
  { file: 'icon-192.png', size: 192 },
  { file: 'icon-512.png', size: 512 },
  { file: 'apple-touch-icon.png', size: 180 },
];

const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu'] });
try {
  for (const { file, size } of sizes) {
    const page = await browser.newPage({ viewport: { width: size, height: size } });
    await page.setContent(`<style>html,body{margin:0}svg{display:block;width:${size}px;height:${size}px}</style>${svg}`);
    writeFileSync(new URL(`../public/${file}`, import.meta.url), await page.screenshot({ type: 'png', omitBackground: false }));
    await page.close();
  }
} finally {
  await browser.close();
}
