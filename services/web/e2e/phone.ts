// A phone's screen for the end-to-end tests, and the check that a page fits it.
import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/** 390 x 844 CSS pixels: an iPhone 12 to 14's screen. */
export const PHONE = { width: 390, height: 844 };

/**
 * Asserts that nothing runs off the side of the screen (`document.documentElement.scrollWidth`
 * within the window), naming the outermost elements past the right edge if any (a wide table
 * inside a box that scrolls sideways is named too, but does not count).
 */
export async function expectNoOverflow(page: Page, what: string) {
  const { excess, culprits } = await page.evaluate(() => {
    const width = window.innerWidth;
    const past = (element: Element | null) => !!element && element.getBoundingClientRect().right > width + 1;
    // The outermost elements past the edge: their parent is within it (or is the body).
    const culprits = [...document.querySelectorAll('body *')]
      .filter((element) => past(element) && (element.parentElement === document.body || !past(element.parentElement)))
      .slice(0, 8)
      .map((element) => {
        const box = element.getBoundingClientRect();
        return `${element.tagName.toLowerCase()}.${String(element.className).slice(0, 80)} [${Math.round(box.left)}..${Math.round(box.right)}]`;
      });
    // And the innermost elements without which the page would fit: the cause, when the elements
    // past the edge are inside a box that should have clipped them.
    if (document.documentElement.scrollWidth > width) {
      const fixes = [...document.querySelectorAll('body *')].filter((element) => {
        const style = (element as HTMLElement).style;
        const before = style.display;
        style.display = 'none';
        const fits = document.documentElement.scrollWidth <= width;
        style.display = before;
        return fits;
      });
      culprits.push(...fixes.slice(-3).map((element) => `(hiding fixes it) ${element.tagName.toLowerCase()}.${String(element.className).slice(0, 80)}`));
    }
    return { excess: document.documentElement.scrollWidth - width, culprits };
  });
  expect(excess, `${what} is wider than the phone: ${culprits.join(' | ')}`).toBeLessThanOrEqual(0);
}

/**
 * With `TOCSIN_WEB_SHOTS=1`, saves the screen as `docs/screenshots/<name>.png` (docs/web.md and
 * docs/oncall.md show them); otherwise does nothing, so that a test run leaves the tree alone.
 */
export async function shoot(page: Page, name: string) {
  if (process.env.TOCSIN_WEB_SHOTS !== '1') return;
  await page.waitForTimeout(300);
  await page.screenshot({ path: new URL(`../../../docs/screenshots/${name}.png`, import.meta.url).pathname });
}
