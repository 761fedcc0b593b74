// Drives the dashboard in headless Chromium: open it with a token, emit an event through the
// API, watch the delivery turn SUCCEEDED in the live feed, see a failing hook's retries, click
// Redeliver, and save a screenshot. Exits 0 on success.
// Usage: node dashboard.mjs <base-url> <token> <okHookId> <failingHookId> <screenshot.png>
import { chromium } from 'playwright-core';

const [base, token, okHook, failingHook, screenshot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
});
const step = (name) => console.log(`step: ${name}`);
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  page.setDefaultTimeout(20_000);
  const api = async (query, variables = {}) => {
    const r = await fetch(`${base}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify({ query, variables }),
    });
    const body = await r.json();
    if (body.errors) throw new Error(JSON.stringify(body.errors));
    return body.data;
  };

  step('a bad token shows a clear error');
  await page.goto(`${base}/?token=not-a-token`);
  await page.getByTestId('error').filter({ hasText: 'token was rejected' }).waitFor();

  step('open with a good token');
  await page.goto(`${base}/?token=${token}`);
  await page.locator(`[data-hook="${okHook}"]`).waitFor();
  await page.locator('#conn.live').waitFor();

  step('emit an event; the live feed shows it SUCCEEDED');
  await api('mutation { emitEvent(input: { type: "User.Created", data: { id: "browser" } }) { id } }');
  await page.getByTestId('feed').locator('.status.SUCCEEDED').first().waitFor();
  await page.getByTestId('feed').locator('.status.PENDING').first().waitFor();

  step('the hooks table counts requests');
  await page.locator(`[data-hook="${okHook}"] [data-testid="requests"]`).filter({ hasText: /^[1-9]/ }).waitFor();

  step("the failing hook's deliveries show its retries");
  await page.locator(`[data-hook="${failingHook}"] [data-action="deliveries"]`).click();
  const row = page.getByTestId('deliveries').locator('[data-delivery]').first();
  await row.locator('.attempts li', { hasText: '#2' }).waitFor();
  await row.locator('[data-testid="delivery-status"]', { hasText: 'FAILED' }).waitFor();

  step('redeliver makes a MANUAL attempt');
  await row.locator('[data-action="redeliver"]').click();
  await page.getByTestId('deliveries').locator('.attempts li', { hasText: 'MANUAL' }).first().waitFor();

  step('test button');
  await page.locator(`[data-hook="${okHook}"] [data-action="test"]`).click();
  await page.getByTestId('test-result').filter({ hasText: 'OK' }).waitFor();

  step('screenshot');
  await page.screenshot({ path: screenshot, fullPage: true });
  const feed = await page.getByTestId('feed').locator('li').count();
  console.log(JSON.stringify({ feedEntries: feed, screenshot }));
} finally {
  await browser.close();
}
