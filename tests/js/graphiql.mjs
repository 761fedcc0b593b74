// Drives /graphiql in headless Chromium with every request to anything but hookd blocked: the
// explorer must load from the binary alone and run a query. Exits 0 on success.
// Usage: node graphiql.mjs <base-url> <token>
import { chromium } from 'playwright-core';
import { launch } from './browser.mjs';

const [base, token] = process.argv.slice(2);
const browser = await launch(chromium);
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30_000);
  const blocked = [];
  const problems = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url.startsWith(base)) return route.continue();
    blocked.push(url);
    return route.abort('blockedbyclient');
  });
  page.on('console', (m) => { if (m.type() === 'error') problems.push(m.text()); });
  page.on('pageerror', (e) => problems.push(String(e)));

  await page.goto(`${base}/graphiql?token=${token}`);
  await page.locator('.graphiql-container').waitFor();
  if (page.url().includes('token=')) throw new Error('the token stayed in the address bar');
  await page.locator('.graphiql-execute-button').click();
  const result = page.locator('.result-window');
  await result.filter({ hasText: '"tenant": "default"' }).waitFor();
  await result.filter({ hasText: '"totalCount"' }).waitFor();
  if (blocked.length) throw new Error(`requests left for third parties: ${blocked.join(', ')}`);
  if (problems.length) throw new Error(`console errors: ${problems.join(' | ')}`);
  console.log(JSON.stringify({ ok: true, result: (await result.innerText()).slice(0, 200) }));
} finally {
  await browser.close();
}
