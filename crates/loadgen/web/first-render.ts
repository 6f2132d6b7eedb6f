// The dashboard's first render against a seeded database (make bench-data): from navigation to
// every open incident on the board, as services/web/e2e/bench-render.ts measures it after posting
// its own alerts. tocsin-bench-data runs it with `npx tsx` from services/web, with query serving
// the built dashboard, and reads the last line:
//   first-render: median_ms=N fetch_ms=N render_ms=N pages=N count=N
import { launch, newContext, signIn } from '../../../services/web/e2e/browser';
import { describeFirstRender, measureFirstRender, median, type FirstRender } from '../../../services/web/e2e/firstRender';

const COUNT = Number(process.env.BENCH_OPEN ?? 5000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);

async function main() {
  const browser = await launch();
  const context = await newContext(browser, { width: 1600, height: 1000 });
  const page = await signIn(context);
  const figures: FirstRender[] = [];
  for (let run = 0; run < RUNS; run++) {
    figures.push(await measureFirstRender(page, '/?status=open', COUNT));
    console.log(`first render ${run + 1}: ${describeFirstRender(figures[run]!, COUNT)}`);
  }
  await browser.close();
  console.log(
    `first-render: median_ms=${median(figures.map((f) => f.total)).toFixed(0)} fetch_ms=${median(figures.map((f) => f.fetch)).toFixed(0)} ` +
      `render_ms=${median(figures.map((f) => f.render)).toFixed(0)} pages=${figures[0]!.pages} count=${COUNT}`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
