// End to end in real headless Chromium (Debian's package, driven by
// playwright-core) against a real `flowex up` on loopback: the issue's
// whole flow with two users and an admin, the Chinese trade screen, a
// phone-sized run, and axe-core on the main screens. Screenshots of every
// main screen go to target/web-e2e/ on every run (and on failure).
//
//   node e2e/run.mjs            (FLOWEX_BIN=path/to/flowex, CHROMIUM=path)
import { chromium } from 'playwright-core';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { python, startFlowex } from './server.mjs';
import { freshCode } from './totp.mjs';

const require = createRequire(import.meta.url);
const shots = resolve(import.meta.dirname, '../../target/web-e2e');
rmSync(shots, { recursive: true, force: true });
mkdirSync(shots, { recursive: true });

const ADMIN = { email: 'admin@example.com', password: 'admin passphrase 42' };
const ALICE = { email: 'alice@example.com', password: 'alice passphrase 42' };
const BOB = { email: 'bob@example.com', password: 'bob passphrase 42!' };
const T = 20_000; // the longest any one UI step may take

let passed = 0;
let failed = 0;
const pages = new Set();
const problems = [];
let shotNo = 0;

async function shot(page, name) {
  shotNo += 1;
  await page.screenshot({ path: join(shots, `${String(shotNo).padStart(2, '0')}-${name}.png`), fullPage: true });
}

async function step(name, f) {
  const started = Date.now();
  try {
    await f();
    passed += 1;
    console.log(`ok - ${name} (${Date.now() - started} ms)`);
  } catch (e) {
    failed += 1;
    console.log(`not ok - ${name}\n  ${String(e?.stack ?? e).split('\n').join('\n  ')}`);
    for (const p of pages) await shot(p, `failed-${name.replace(/\W+/g, '-')}`).catch(() => undefined);
    throw e;
  }
}

function expect(cond, what) {
  if (!cond) throw new Error(what);
}

const browserArgs = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];

async function newPage(browser, base, options = {}) {
  const context = await browser.newContext({ baseURL: base, viewport: { width: 1400, height: 900 }, locale: 'en-US', ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(T);
  pages.add(page);
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    // The streams are not served yet (the UI falls back to REST), and
    // Chromium reports every 4xx answer (a 2FA challenge, a revoked
    // session) as a failed resource: neither is a fault of the page.
    if (/^WebSocket connection to .* failed/.test(text)) return;
    if (/^Failed to load resource: the server responded with a status of 4\d\d/.test(text)) return;
    problems.push(`console error on ${page.url()}: ${text}`);
  });
  return page;
}

async function signUp(page, who) {
  await page.goto('/signup');
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/wallet');
}

async function signIn(page, who, code) {
  await page.goto('/signin');
  await page.getByLabel('E-mail').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).last().click();
  if (code) {
    await page.getByRole('heading', { name: 'Two-factor authentication' }).waitFor();
    await page.getByLabel('Code').fill(await code());
    await page.getByRole('button', { name: 'Verify' }).click();
  }
  await page.getByTestId('user-email').waitFor();
}

async function faucet(page, asset) {
  await page.goto('/wallet');
  await page.getByTestId(`balance-${asset}`).getByRole('button', { name: 'Get demo funds' }).click();
  await page.getByText(`${asset} credited.`).waitFor();
}

async function balance(page, asset) {
  await page.goto('/wallet');
  const cell = page.getByTestId(`free-${asset}`);
  await cell.waitFor();
  return cell.innerText();
}

async function waitBalance(page, asset, want) {
  const until = Date.now() + T;
  let got = '';
  while (Date.now() < until) {
    got = await balance(page, asset);
    if (got === want) return;
    await page.waitForTimeout(1_000);
  }
  throw new Error(`${asset} free balance is ${got}, expected ${want}`);
}

async function placeLimit(page, side, price, amount) {
  await page.goto('/trade/BTCUSDT');
  await page.getByRole('button', { name: side === 'BUY' ? 'Buy' : 'Sell', exact: true }).click();
  await page.getByLabel('Price (USDT)').fill(price);
  await page.getByLabel('Amount (BTC)').fill(amount);
  await page.getByRole('button', { name: `${side === 'BUY' ? 'Buy' : 'Sell'} BTC` }).click();
  const notice = page.getByText(/^Order \d+ placed: /);
  await notice.waitFor();
  return notice.innerText();
}

async function axe(page, path) {
  await page.goto(path);
  await page.waitForLoadState('networkidle').catch(() => undefined);
  await page.waitForTimeout(1_500);
  await page.addScriptTag({ path: require.resolve('axe-core/axe.min.js') });
  const result = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.length, help: v.help, target: v.nodes[0]?.target }));
  });
  const bad = result.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  const minor = result.filter((v) => !bad.includes(v)).map((v) => `${v.id} (${v.impact})`);
  if (minor.length) console.log(`  axe on ${path}, below serious: ${minor.join(', ')}`);
  expect(bad.length === 0, `axe on ${path}: ${JSON.stringify(bad)}`);
}

/** Password rotation: a server with a one-day maximum age and an account
 * whose password was set long ago (its row aged in the SQLite file before
 * the start); signing in asks for a new one, then the new one works. */
async function renewalFlow(browser) {
  const who = { email: 'renew@example.com', password: 'an old passphrase 42' };
  const fresh = 'a brand new passphrase 43';
  const server = await startFlowex({
    admin: who,
    args: ['--no-bot'],
    env: { FLOWEX_AUTH__PASSWORD_MAX_AGE_DAYS: '1' },
    prepare: (dir) =>
      python(
        'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("UPDATE users SET password_changed_at = 1 WHERE email = ?", (sys.argv[2],)); c.commit()',
        join(dir, 'flowex.db'),
        who.email,
      ),
  });
  try {
    const page = await newPage(browser, server.base);
    await step('an expired password is renewed at sign-in, and the new one works', async () => {
      await page.goto('/signin');
      await page.getByLabel('E-mail').fill(who.email);
      await page.getByLabel('Password').fill(who.password);
      await page.getByRole('button', { name: 'Sign in' }).last().click();
      await page.getByRole('heading', { name: 'Choose a new password' }).waitFor();
      await page.getByLabel('New password').fill(fresh);
      await page.getByRole('button', { name: 'Set password and sign in' }).click();
      await page.getByTestId('user-email').waitFor();
      await shot(page, 'password-renewed');
      await page.getByRole('button', { name: 'Sign out' }).click();
      await signIn(page, { email: who.email, password: fresh });
    });
  } finally {
    server.stop();
  }
}

async function main() {
  const server = await startFlowex({ admin: ADMIN, args: ['--no-bot'] });
  // launch() gives Chromium a fresh temporary profile (--user-data-dir) of its own.
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true, args: browserArgs });
  console.log(`flowex up at ${server.base}; screenshots in ${shots}`);
  try {
    await flow(browser, server.base);
    await renewalFlow(browser);
  } finally {
    await browser.close().catch(() => undefined);
    server.stop();
  }
}

async function flow(browser, base) {
  const alice = await newPage(browser, base);
  let secret = '';
  let usedStep = 0;
  const code = async () => {
    const c = await freshCode(secret, usedStep);
    usedStep = c.step;
    return c.code;
  };

  await step('markets page lists every demo market', async () => {
    await alice.goto('/');
    for (const m of ['BTC', 'ETH', 'SOL']) await alice.getByRole('link', { name: new RegExp(`^${m}/`) }).first().waitFor();
    await shot(alice, 'markets');
  });

  await step('the service worker registers and caches the app shell only', async () => {
    const sw = await alice.evaluate(async () => {
      const reg = await navigator.serviceWorker.ready;
      const names = await caches.keys();
      const urls = [];
      for (const n of names) for (const r of await (await caches.open(n)).keys()) urls.push(new URL(r.url).pathname);
      return { script: reg.active?.scriptURL ?? '', scope: reg.scope, names, urls };
    });
    expect(sw.script.endsWith('/sw.js') && sw.scope === `${base}/`, `registration ${JSON.stringify(sw)}`);
    expect(sw.names.length === 1 && /^flowex-shell-[0-9a-f]{16}$/.test(sw.names[0]), `caches ${sw.names}`);
    expect(sw.urls.includes('/index.html') && sw.urls.some((u) => u.startsWith('/assets/')), `shell ${sw.urls}`);
  });

  await step('sign up, then demo funds from the faucet', async () => {
    await signUp(alice, ALICE);
    await faucet(alice, 'USDT');
    expect((await balance(alice, 'USDT')) === '10000.00000000', 'USDT after the faucet');
    await shot(alice, 'wallet');
  });

  await step('enable 2FA with a computed TOTP code; backup codes shown', async () => {
    await alice.goto('/security');
    await alice.getByRole('button', { name: 'Turn on 2FA' }).click();
    secret = (await alice.getByTestId('totp-secret').innerText()).trim();
    await alice.getByRole('img', { name: 'QR' }).waitFor();
    await alice.getByLabel('Code').fill(await code());
    await alice.getByRole('button', { name: 'Confirm' }).click();
    await alice.getByTestId('backup-codes').waitFor();
    expect((await alice.getByTestId('backup-codes').locator('li').count()) === 10, 'ten backup codes');
    // The state follows a refetch of the user after the confirmation.
    await alice.getByTestId('totp-state').getByText('On', { exact: true }).waitFor();
    await shot(alice, 'security');
  });

  await step('sign out, sign in again with the 2FA step; a reload keeps the session (refresh rotation)', async () => {
    await alice.getByRole('button', { name: 'Sign out' }).click();
    await alice.waitForURL('**/signin');
    await signIn(alice, ALICE, code);
    await alice.reload();
    await alice.getByTestId('user-email').waitFor();
    await alice.goto('/wallet');
    await alice.getByTestId('free-USDT').waitFor();
  });

  await step('recent account activity lists the sign-ins and the 2FA change', async () => {
    await alice.goto('/security');
    const activity = alice.getByTestId('activity');
    await activity.getByText('2FA turned on').waitFor();
    expect((await activity.getByText('Sign-in', { exact: true }).count()) >= 2, 'two sign-ins listed');
    expect((await activity.getByText('Account created').count()) === 1, 'registration listed');
    await shot(alice, 'security-activity');
  });

  await step('a limit buy rests: in open orders and in the book', async () => {
    const notice = await placeLimit(alice, 'BUY', '50000.00', '0.01');
    expect(/placed: New/.test(notice), notice);
    await alice.getByRole('tab', { name: /Open orders \(1\)/ }).waitFor();
    await alice.getByTestId('book-bids').getByText('50,000.00').waitFor();
    await alice.getByTestId('available').getByText('9500.00000000').or(alice.getByTestId('available').getByText('9,500.00000000')).waitFor();
    await shot(alice, 'trade');
  });

  const bob = await newPage(browser, base);
  await step('a second user sells into it; both histories and balances agree exactly', async () => {
    await signUp(bob, BOB);
    await faucet(bob, 'BTC');
    const notice = await placeLimit(bob, 'SELL', '50000.00', '0.01');
    expect(/placed: Filled/.test(notice), notice);
    await bob.getByRole('tab', { name: 'Trade history' }).click();
    await bob.getByTestId('my-trades').getByText('50,000.00').waitFor();
    await alice.goto('/trade/BTCUSDT');
    await alice.getByRole('tab', { name: 'Trade history' }).click();
    await alice.getByTestId('my-trades').getByText('50,000.00').waitFor();
    await alice.getByRole('tab', { name: /Open orders \(0\)/ }).waitFor();
    // 0.1 % fees, each side in what it receives.
    await waitBalance(alice, 'BTC', '0.00999000');
    await waitBalance(alice, 'USDT', '9500.00000000');
    await waitBalance(bob, 'BTC', '0.49000000');
    await waitBalance(bob, 'USDT', '499.50000000');
  });

  await step('cancel an order', async () => {
    await placeLimit(alice, 'BUY', '40000.00', '0.01');
    await alice.getByRole('tab', { name: /Open orders \(1\)/ }).waitFor();
    await alice.getByRole('button', { name: 'Cancel', exact: true }).click();
    await alice.getByRole('tab', { name: /Open orders \(0\)/ }).waitFor();
    await alice.getByText('No open orders.').waitFor();
  });

  await step('the book updates live over the market stream, without a reload', async () => {
    const frames = [];
    alice.on('websocket', (ws) => ws.on('framereceived', (f) => frames.push(String(f.payload))));
    await alice.goto('/trade/BTCUSDT');
    await alice.getByText('Live', { exact: true }).waitFor();
    await placeLimit(bob, 'SELL', '61000.00', '0.001');
    await alice.getByTestId('book-asks').getByText('61,000.00').waitFor();
    expect(frames.some((f) => f.includes('depthUpdate') && f.includes('61000')), 'the new level came as a depth diff on /stream');
    await bob.getByRole('button', { name: 'Cancel', exact: true }).click();
    await alice.getByTestId('book-asks').getByText('61,000.00').waitFor({ state: 'detached' });
  });

  await step('open orders and balances update live over the user data stream when another user fills our order', async () => {
    const frames = [];
    alice.on('websocket', (ws) => {
      if (ws.url().endsWith('/ws-api/v3')) ws.on('framereceived', (f) => frames.push(String(f.payload)));
    });
    const notice = await placeLimit(alice, 'BUY', '49000.00', '0.002');
    const orderId = /^Order (\d+)/.exec(notice)[1];
    await alice.getByRole('tab', { name: /Open orders \(1\)/ }).waitFor();
    await alice.getByTestId(`order-${orderId}`).waitFor();
    // "Live" in the header needs both streams: the market's and this user's.
    await alice.getByText('Live', { exact: true }).waitFor();
    await alice.getByTestId('available').getByText(/^9,?402\.00000000/).waitFor();
    // A mark on this document: a reload or navigation would lose it.
    await alice.evaluate(() => { window.flowexNoReload = true; });
    expect((await placeLimit(bob, 'SELL', '49000.00', '0.002')).includes('placed: Filled'), 'the sell filled');
    await alice.getByRole('tab', { name: /Open orders \(0\)/ }).waitFor();
    await alice.getByTestId(`order-${orderId}`).waitFor({ state: 'detached' });
    // The account the form shows was refetched on the stream's event: 0.002 BTC less the 0.1 % fee.
    await alice.getByRole('button', { name: 'Sell', exact: true }).click();
    await alice.getByTestId('available').getByText('0.01198800').waitFor();
    expect(await alice.evaluate(() => window.flowexNoReload === true), 'the page was not reloaded');
    const filled = frames.find((f) => f.includes('executionReport') && f.includes(`"i":${orderId},`) && f.includes('"X":"FILLED"'));
    expect(filled, `the fill came as an executionReport on /ws-api/v3 (${frames.length} frames)`);
    expect(frames.some((f) => f.includes('outboundAccountPosition')), 'balances came as outboundAccountPosition');
    await shot(alice, 'trade-live-fill');
  });

  let withdrawalId = '';
  await step('request a withdrawal with a 2FA code', async () => {
    await alice.goto('/wallet');
    await alice.getByLabel('Asset').selectOption('BTC');
    await alice.getByLabel('Amount').fill('0.001');
    await alice.getByLabel('Address').fill('bc1qexampleaddress');
    await alice.getByLabel('2FA code').fill(await code());
    await alice.getByRole('button', { name: 'Request withdrawal' }).click();
    const notice = alice.getByText(/^Withdrawal \d+ requested/);
    await notice.waitFor();
    withdrawalId = /Withdrawal (\d+)/.exec(await notice.innerText())[1];
    await alice.getByTestId(`withdrawal-${withdrawalId}`).getByText('Requested').waitFor();
  });

  const admin = await newPage(browser, base);
  await step('an admin approves it; the history shows it completed', async () => {
    await signIn(admin, ADMIN);
    await admin.goto('/admin');
    // A page that watches no market still opens the market stream: the
    // header says Live, not polling.
    await admin.getByText('Live', { exact: true }).waitFor();
    const row = admin.getByTestId(`admin-withdrawal-${withdrawalId}`);
    await row.getByRole('button', { name: 'Approve' }).click();
    await admin.getByText('Done.').waitFor();
    await shot(admin, 'admin');
    await alice.goto('/wallet');
    await alice.getByTestId(`withdrawal-${withdrawalId}`).getByText('Completed').waitFor();
    await waitBalance(alice, 'BTC', '0.01098800');
  });

  await step('the admin reconcile status: ledger, balances and engine agree', async () => {
    await admin.goto('/admin');
    await admin.getByRole('tab', { name: 'Reconcile' }).click();
    await admin.getByTestId('reconcile-result').getByText('The ledger, the balances and the engine agree.').waitFor();
    // The demo seed's three accounts (10 BTC and 1,000,000 USDT each, bin/flowex/src/demo.rs
    // SEED_FUNDS), Bob's 0.5 BTC from the faucet less Alice's 0.001 withdrawn, Alice's 10,000 USDT.
    const btc = admin.getByTestId('reconcile-BTC');
    expect((await btc.locator('td').allInnerTexts()).join(' ') === '30.49900000 30.49900000 0.00000000 0.00000000 Agrees', `BTC row: ${await btc.innerText()}`);
    const usdt = admin.getByTestId('reconcile-USDT');
    expect((await usdt.locator('td').allInnerTexts()).join(' ') === '3010000.00000000 3010000.00000000 0.00000000 0.00000000 Agrees', `USDT row: ${await usdt.innerText()}`);
    await shot(admin, 'admin-reconcile');
  });

  await step('the admin users list: freeze, unfreeze and a fee tier for one user', async () => {
    await admin.goto('/admin');
    await admin.getByRole('tab', { name: 'Users' }).click();
    const row = admin.getByTestId('admin-users').locator('tr', { hasText: BOB.email });
    await row.getByText('Active').waitFor();
    await row.getByRole('button', { name: 'Freeze' }).click();
    await row.getByText('Frozen').waitFor();
    await shot(admin, 'admin-users');
    await row.getByRole('button', { name: 'Unfreeze' }).click();
    await row.getByText('Active').waitFor();
    await row.getByLabel(`${BOB.email} Maker fee`).fill('0.0002');
    await row.getByLabel(`${BOB.email} Taker fee`).fill('0.0004');
    await row.getByRole('button', { name: 'Set fee tier' }).click();
    await row.getByRole('button', { name: 'Back to market fees' }).waitFor();
    expect((await row.getByLabel(`${BOB.email} Taker fee`).inputValue()) === '0.000400', 'fee tier shown as the API answers it');
    await row.getByRole('button', { name: 'Back to market fees' }).click();
    await row.getByRole('button', { name: 'Back to market fees' }).waitFor({ state: 'detached' });
  });

  await step('the trade screen in Chinese', async () => {
    await alice.goto('/trade/BTCUSDT');
    await alice.getByLabel('Language').selectOption('zh-CN');
    await alice.getByRole('heading', { name: '订单簿' }).waitFor();
    await alice.getByRole('button', { name: '买入 BTC' }).waitFor();
    expect((await alice.evaluate(() => document.documentElement.lang)) === 'zh-CN', 'html lang');
    await shot(alice, 'trade-zh');
    await alice.getByLabel('语言').selectOption('en');
  });

  await step('the trade screen on a phone', async () => {
    const phone = await newPage(browser, base, { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    await phone.goto('/trade/BTCUSDT');
    await phone.getByRole('heading', { name: 'Order book' }).waitFor();
    await phone.getByRole('button', { name: 'Buy', exact: true }).waitFor();
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `the page is ${overflow} px wider than the phone`);
    await shot(phone, 'trade-phone');
    await phone.context().close();
    pages.delete(phone);
  });

  await step('a revoked session ends cleanly', async () => {
    const other = await newPage(browser, base);
    await signIn(other, BOB);
    await bob.goto('/security');
    await bob.getByTestId('sessions').getByRole('button', { name: 'Revoke' }).first().click();
    await bob.waitForTimeout(500);
    await other.goto('/wallet');
    await other.waitForURL('**/signin');
    await other.context().close();
    pages.delete(other);
  });

  await step('axe-core: no serious or critical violations on the main screens', async () => {
    const a11y = await newPage(browser, base, { bypassCSP: true });
    for (const path of ['/', '/trade/BTCUSDT', '/signin', '/signup']) await axe(a11y, path);
    await signIn(a11y, BOB);
    for (const path of ['/wallet', '/security']) await axe(a11y, path);
    await a11y.getByRole('button', { name: 'Sign out' }).click();
    await a11y.waitForURL('**/signin');
    await signIn(a11y, ADMIN);
    await axe(a11y, '/admin');
    await a11y.context().close();
    pages.delete(a11y);
  });

  await step('no API answer was ever cached by the service worker', async () => {
    const urls = await alice.evaluate(async () => {
      const out = [];
      for (const n of await caches.keys()) for (const r of await (await caches.open(n)).keys()) out.push(new URL(r.url).pathname);
      return out;
    });
    const api = urls.filter((u) => !u.startsWith('/assets/') && !/^\/[\w.-]+$/.test(u));
    expect(api.length === 0, `cached beyond the shell: ${api}`);
  });

  await step('no page errors and no console errors', async () => {
    expect(problems.length === 0, problems.join('\n'));
  });
}

const started = Date.now();
main()
  .catch(() => {
    if (failed === 0) failed = 1;
  })
  .finally(() => {
    console.log(`web e2e in ${Math.round((Date.now() - started) / 1000)} s`);
    console.log(`${passed} passed, ${failed} failed`);
    process.exit(failed === 0 ? 0 : 1);
  });
