// Drives the dashboard in headless Chromium as an operator would (see the Rust side,
// tests/it/browser.rs, for the setup: hooks "orders" (200), "billing" (500) and "crm" (slow) in
// tenant "acme", 60 deliveries already made). Exits 0 when every step passed.
// Usage: node dashboard.mjs '<setup JSON>'
import { chromium } from 'playwright-core';
import { launch } from './browser.mjs';

const setup = JSON.parse(process.argv[2]);
const { base, admin, hooks, screenshots } = setup;
const browser = await launch(chromium);
const step = (name) => console.log(`step: ${name}`);
const expect = (condition, message) => { if (!condition) throw new Error(message); };
const api = async (query, variables = {}, token = admin) => {
  const r = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ query, variables }),
  });
  const body = await r.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
};

async function newPage(options = {}) {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, ...options });
  page.setDefaultTimeout(20_000);
  const problems = [];
  page.on('pageerror', (e) => problems.push(String(e)));
  page.on('console', (m) => { if (m.type() === 'error' && !/401|Failed to load resource/.test(m.text())) problems.push(m.text()); });
  page.on('dialog', (dialog) => dialog.accept());
  page.problems = problems;
  return page;
}

try {
  const page = await newPage();

  step('without a token only the sign-in form shows, nothing beneath it');
  await page.goto(base);
  await page.getByTestId('token-input').waitFor();
  expect(!(await page.locator('#view').isVisible()), 'the view is hidden before signing in');
  expect(!(await page.getByTestId('error').isVisible()), 'no error before trying');

  step('a bad token gets a clear error');
  await page.getByTestId('token-input').fill('not-a-token');
  await page.getByRole('button', { name: 'Open dashboard' }).click();
  await page.getByTestId('error').filter({ hasText: 'token was rejected' }).waitFor();

  step('a good token opens the dashboard; the tenant comes from the configured claim');
  await page.getByTestId('token-input').fill(admin);
  await page.getByRole('button', { name: 'Open dashboard' }).click();
  await page.getByTestId('tenant').filter({ hasText: 'tenant acme' }).waitFor();
  await page.locator(`[data-hook="${hooks.ok}"]`).waitFor();
  await page.locator('#conn.live').waitFor();

  step('the live feed starts with recent deliveries from the API, naming their hook');
  const feed = page.getByTestId('feed');
  expect(await feed.getByTestId('feed-line').count() >= 20, 'the feed is seeded');
  await feed.getByTestId('feed-line').filter({ hasText: 'orders' }).first().waitFor();

  step('a new event streams in: the slow hook is seen SENDING, then SUCCEEDED');
  await api('mutation { emitEvent(input: { type: "Role.Created", data: { id: "live" } }) { id } }');
  await feed.getByTestId('feed-line').filter({ hasText: 'crm' }).filter({ has: page.locator('.status.SENDING') }).first().waitFor();
  await feed.getByTestId('feed-line').filter({ hasText: 'crm' }).filter({ has: page.locator('.status.SUCCEEDED') }).first().waitFor();

  step("a new delivery updates its hook's 24 h count in place");
  const okRequests = page.locator(`[data-hook="${hooks.ok}"] [data-testid="requests"]`);
  const countBefore = Number(await okRequests.innerText());
  await api('mutation { emitEvent(input: { type: "User.Created", data: { id: "fails" } }) { id } }');
  await okRequests.filter({ hasText: String(countBefore + 1) }).waitFor();

  step('a failed delivery opens from the feed with its response body and headers');
  const failedLine = feed.getByTestId('feed-line').filter({ hasText: 'billing' }).filter({ has: page.locator('.status.FAILED') }).first();
  await failedLine.click();
  const detail = page.getByTestId('delivery-detail');
  await detail.waitFor();
  expect(/#\/deliveries\/.+/.test(page.url()), 'the address names the delivery');
  await page.getByTestId('response-body').filter({ hasText: 'broken: database down' }).first().waitFor();
  const requestHeaders = await page.getByTestId('request-headers').innerText();
  for (const name of ['webhook-signature', 'logto-signature-sha-256', 'webhook-id', 'content-type', 'user-agent']) {
    expect(requestHeaders.includes(name), `request headers show ${name}: ${requestHeaders}`);
  }
  expect(!requestHeaders.includes('whsec_'), 'the signing key is never shown');
  await page.getByTestId('request-body').filter({ hasText: '"hookId"' }).waitFor();
  expect((await page.getByTestId('attempt').count()) === 3, 'three attempts');
  expect((await page.getByTestId('response-headers').first().innerText()).includes('content-length'), 'response headers shown');

  step('the delivery view survives a reload (deep link)');
  const deliveryUrl = page.url();
  await page.reload();
  await page.getByTestId('response-body').filter({ hasText: 'broken: database down' }).first().waitFor();
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.screenshot({ path: `${screenshots}/dark-delivery.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  step('redeliver queues a manual attempt');
  await page.getByTestId('redeliver').click();
  await page.getByTestId('attempt').filter({ hasText: 'manual' }).first().waitFor();

  step('deliveries page past 25');
  await page.goto(`${base}/#/deliveries`);
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 25 of (6\d)$/ }).waitFor();
  await page.getByTestId('load-more').click();
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 50 of/ }).waitFor();
  await page.getByTestId('load-more').click();
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing (6\d) of \1$/ }).waitFor();
  expect(!(await page.getByTestId('load-more').isVisible()), 'no more pages');

  step('filter by status and by hook; the filter is in the address and survives a reload');
  await page.getByTestId('filter-status').selectOption('FAILED');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/status=FAILED/);
  // The filtered list replaces the whole one: only FAILED rows, 25 of them (there are 31).
  await page.waitForFunction(() => {
    const shown = [...document.querySelectorAll('[data-testid=deliveries] [data-testid=status]')].map((s) => s.textContent);
    return shown.length === 25 && shown.every((s) => s === 'FAILED');
  });
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 25 of 3\d$/ }).waitFor();
  await page.locator('#filter-status').selectOption('');
  await page.locator('#filter-event').selectOption('Role.Created');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 3 of 3$/ }).waitFor();
  await page.locator('#filter-since').fill('2099-01-01T00:00');
  await page.getByRole('button', { name: 'Filter' }).click();
  await page.waitForURL(/since=2099/);
  await page.getByTestId('no-deliveries').waitFor();
  await page.goto(`${base}/#/deliveries?hook=${hooks.slow}`);
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 3 of 3$/ }).waitFor();
  await page.reload();
  await page.getByTestId('delivery-count').filter({ hasText: /^Showing 3 of 3$/ }).waitFor();

  step("a hook's chart has data: the slow hook's p95 is over a second");
  await page.goto(`${base}/#/hooks/${hooks.slow}`);
  const chart = page.getByTestId('chart');
  await chart.getByTestId('chart-bar').first().waitFor({ state: 'attached' });
  const requests = await chart.getByTestId('chart-bar').evaluateAll((bars) => bars.reduce((n, b) => n + Number(b.dataset.requests), 0));
  expect(requests >= 3, `the chart counts the requests: ${requests}`);
  const table = await chart.getByTestId('chart-table').textContent();
  expect(/1\d{3} ms/.test(table), `p95 of the slow hook: ${table}`);
  await page.screenshot({ path: `${screenshots}/light-hook.png`, fullPage: true });

  step('create a hook: a bad URL is refused next to the URL field');
  await page.goto(`${base}/#/`);
  await page.getByTestId('new-hook').click();
  await page.getByTestId('hook-form').waitFor();
  await page.locator('#f-name').fill('browser-made');
  await page.locator('#f-url').fill('ftp://example.com/hook');
  await page.locator('input[name=events][value="User.Created"]').check();
  await page.locator('input[name=events][value="Organization.Created"]').check();
  await page.getByTestId('save-hook').click();
  await page.locator('#f-url-error[data-code=BAD_USER_INPUT]').filter({ hasText: 'url' }).waitFor();
  expect(await page.locator('#f-url').getAttribute('aria-invalid') === 'true', 'the URL field is marked');
  await page.locator('#f-url').fill(setup.receiver);
  await page.locator('#f-headers').fill('X-Team: identity');
  await page.getByTestId('save-hook').click();
  await page.getByTestId('hook-detail').filter({ hasText: 'browser-made' }).waitFor();
  const created = page.url().split('#/hooks/')[1];

  step('edit it: an empty name is refused next to the name, then a new name is saved');
  await page.getByTestId('edit-hook').click();
  await page.locator('#f-name').fill('');
  await page.getByTestId('save-hook').click();
  await page.locator('#f-name-error[data-code=BAD_USER_INPUT]').filter({ hasText: 'name' }).waitFor();
  await page.locator('#f-name').fill('browser-renamed');
  await page.locator('input[name=events][value="User.Created"]').uncheck();
  await page.getByTestId('save-hook').click();
  await page.getByTestId('hook-detail').filter({ hasText: 'browser-renamed' }).waitFor();
  const stored = await api('query($id: ID!) { hook(id: $id) { name events headers { name value } } }', { id: created });
  expect(stored.hook.name === 'browser-renamed' && stored.hook.events.join() === 'Organization.Created'
    && stored.hook.headers[0]?.value === 'identity', `stored: ${JSON.stringify(stored)}`);

  step('reveal and rotate the signing key');
  await page.getByTestId('reveal-key').click();
  await page.getByTestId('signing-key').filter({ hasText: /^whsec_/ }).waitFor();
  const before = await page.getByTestId('signing-key').innerText();
  await page.getByTestId('rotate-key').click();
  await page.getByTestId('signing-key').filter({ hasNotText: before }).waitFor();
  await page.getByTestId('rotate-result').filter({ hasText: 'keeps signing webhook-signature until' }).waitFor();
  const after = await api('query($id: ID!) { hook(id: $id) { signingKey previousSigningKeys { key } } }', { id: created });
  expect(after.hook.signingKey === await page.getByTestId('signing-key').innerText(), 'the new key is shown');
  expect(after.hook.previousSigningKeys.some((k) => k.key === before), `the old key is in its grace period: ${before} ${JSON.stringify(after)}`);

  step('test an event of the hook that is not its first');
  await page.goto(`${base}/#/hooks/${hooks.ok}`);
  await page.getByTestId('hook-detail').filter({ hasText: 'orders' }).waitFor();
  await page.getByTestId('test-event').selectOption('User.Deleted');
  await page.getByTestId('send-test').click();
  await page.getByTestId('test-result').filter({ hasText: 'User.Deleted: OK' }).waitFor();

  step("live updates redraw the hook's statistics, not its forms");
  await page.locator('#grace').fill('3600');
  await page.locator('#view h1').first().click();
  const all = page.getByTestId('hook-deliveries');
  const shown = await all.innerText();
  await api('mutation { emitEvent(input: { type: "User.Deleted", data: { id: "gone" } }) { id } }');
  await all.filter({ hasNotText: shown }).waitFor();
  expect(await page.locator('#grace').inputValue() === '3600', 'the typed grace period stays');
  expect((await page.getByTestId('test-result').innerText()).includes('User.Deleted: OK'), 'the test answer stays');

  step('replay the failed deliveries of the last day');
  await page.goto(`${base}/#/hooks/${hooks.failing}`);
  await page.getByTestId('hook-detail').filter({ hasText: 'billing' }).waitFor();
  await page.getByTestId('replay').click();
  await page.getByTestId('replay-result').filter({ hasText: /^[1-9]\d* deliver(y|ies) requeued\.$/ }).waitFor();

  step('delete the hook made here, after confirming');
  await page.goto(`${base}/#/hooks/${created}`);
  await page.getByTestId('hook-detail').filter({ hasText: 'browser-renamed' }).waitFor();
  await page.getByTestId('delete-hook').click();
  await page.waitForURL(/#\/$/);
  await page.locator(`[data-hook="${hooks.ok}"]`).waitFor();
  expect(await page.locator(`[data-hook="${created}"]`).count() === 0, 'the row is gone');

  step('the keyboard reaches a hook and opens it');
  await page.locator('body').focus();
  let reached = false;
  for (let i = 0; i < 40 && !reached; i++) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.dataset.testid === 'hook-link');
  }
  expect(reached, 'Tab reaches a hook link');
  await page.keyboard.press('Enter');
  await page.getByTestId('hook-detail').waitFor();

  step('dark scheme');
  await page.goto(`${base}/#/`);
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.locator(`[data-hook="${hooks.ok}"]`).waitFor();
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(background === 'rgb(15, 20, 25)', `a dark background: ${background}`);
  await page.screenshot({ path: `${screenshots}/dark.png`, fullPage: true });
  await page.emulateMedia({ colorScheme: 'light' });

  step('GraphiQL opens from the dashboard with the same token');
  await page.getByRole('link', { name: 'GraphiQL' }).click();
  await page.locator('.graphiql-container').waitFor();
  await page.locator('.graphiql-execute-button').click();
  await page.locator('.result-window').filter({ hasText: '"tenant": "acme"' }).waitFor();
  await page.goBack();
  await page.locator(`[data-hook="${hooks.ok}"]`).waitFor();

  step('sign out');
  await page.getByTestId('sign-out').click();
  await page.getByTestId('token-input').waitFor();
  expect(!(await page.locator('#view').isVisible()), 'the view is hidden again');
  expect(await page.evaluate(() => sessionStorage.getItem('hookd-token')) === null, 'the token is forgotten');
  expect(page.problems.length === 0, `no script errors: ${page.problems.join(' | ')}`);

  step('390 px wide: nothing is cut off');
  const narrow = await newPage({ viewport: { width: 390, height: 844 }, isMobile: true });
  await narrow.goto(`${base}/?token=${admin}`);
  await narrow.locator(`[data-hook="${hooks.ok}"]`).waitFor();
  const overflow = async () => narrow.evaluate(() => document.documentElement.scrollWidth);
  expect(await overflow() <= 390, `no sideways scrolling on the overview: ${await overflow()}`);
  expect(await narrow.getByTestId('hook-link').first().isVisible(), 'hook names are visible');
  await narrow.screenshot({ path: `${screenshots}/narrow.png`, fullPage: true });
  await narrow.goto(deliveryUrl);
  await narrow.getByTestId('response-body').first().waitFor();
  expect(await overflow() <= 390, `no sideways scrolling on a delivery: ${await overflow()}`);
  await narrow.screenshot({ path: `${screenshots}/narrow-delivery.png`, fullPage: true });
  await narrow.close();

  step('hooks:read without deliveries:read shows the hooks and says what is missing');
  const partial = await newPage();
  await partial.goto(`${base}/?token=${setup.hooksOnly}`);
  await partial.locator(`[data-hook="${hooks.ok}"]`).waitFor();
  await partial.getByTestId('notice').filter({ hasText: 'deliveries:read' }).waitFor();
  expect(!(await partial.getByTestId('error').isVisible()), 'no error banner');
  expect(await partial.getByTestId('feed').count() === 0, 'no feed without deliveries:read');
  expect(await partial.getByTestId('new-hook').count() === 0, 'no New hook button without hooks:write');
  await partial.goto(`${base}/#/hooks/${hooks.ok}`);
  await partial.getByTestId('hook-detail').waitFor();
  expect(await partial.getByTestId('chart').count() === 0, 'no chart without deliveries:read');
  expect(partial.problems.length === 0, `no script errors: ${partial.problems.join(' | ')}`);
  await partial.close();

  step('deliveries:read without hooks:read lists deliveries and says hooks are hidden');
  const readonly = await newPage();
  await readonly.goto(`${base}/?token=${setup.deliveriesOnly}#/deliveries`);
  await readonly.getByTestId('delivery-count').filter({ hasText: /^Showing 25 of/ }).waitFor();
  await readonly.getByTestId('notice').filter({ hasText: 'hooks:read' }).waitFor();
  await readonly.getByTestId('delivery-link').first().click();
  await readonly.getByTestId('delivery-detail').waitFor();
  expect(await readonly.getByTestId('redeliver').count() === 0, 'no Redeliver without deliveries:write');
  expect(readonly.problems.length === 0, `no script errors: ${readonly.problems.join(' | ')}`);
  await readonly.close();

  console.log(JSON.stringify({ ok: true }));
} finally {
  await browser.close();
}
