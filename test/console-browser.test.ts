/**
 * The web console end to end, in Debian's Chromium driven by playwright-core: sign in, watch a
 * client get counted, emit from the emit panel, and see the event arrive in the listen panel.
 * UPDATE_SCREENSHOTS=1 also writes the screenshot README shows (docs/console.png).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page, type Route } from 'playwright-core';
import { API_KEY, nextEvent, startGateway, type TestGateway } from './support/gateway.js';
import { requireService } from './support/services.js';

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];
const README_SCREENSHOT = new URL('../docs/console.png', import.meta.url);

describe('the console in a real browser', () => {
  let available = false;
  let gw: TestGateway;
  let browser: Browser;
  let page: Page;
  const requests: string[] = [];
  const pageErrors: string[] = [];

  before(async () => {
    available = await requireService(`Chromium (${CHROMIUM}; apt-get install -y chromium)`, () => existsSync(CHROMIUM));
    if (!available) return;
    gw = await startGateway();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ARGS });
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.setDefaultTimeout(10_000);
    page.on('request', (request) => requests.push(request.url()));
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  it('signs in, counts a client, emits to a user and shows the event arriving', async (t) => {
    if (!available) return t.skip('Chromium is not installed');
    await page.goto(`${gw.url}/console`);
    assert.equal(await page.locator('#figures').isVisible(), false, 'nothing but the sign-in before signing in');

    // A wrong key is refused with a message, and nothing is kept.
    await page.getByLabel('API key').fill('not-the-key');
    await page.getByLabel('API key').press('Enter');
    await page.getByText('Not signed in: Invalid API key').waitFor();

    // Keyboard only: type the key, Tab reaches the button, Enter signs in.
    await page.getByLabel('API key').fill(API_KEY);
    await page.keyboard.press('Tab');
    // Page-side code is passed as text: the tests' TypeScript has no DOM types.
    assert.equal(await page.evaluate('document.activeElement?.textContent'), 'Sign in');
    await page.keyboard.press('Enter');
    await page.locator('#figures').waitFor({ state: 'visible' });
    assert.deepEqual(
      await page.evaluate('[sessionStorage.length, localStorage.length, document.cookie]'),
      [1, 0, ''],
      'the key is kept in session storage only',
    );

    // A client connected from outside the browser is counted without reloading.
    const alice = await gw.connectUser('alice');
    await page.locator('td[data-namespace="/v1/shared"]', { hasText: /^1$/ }).waitFor();
    await page.locator('#users', { hasText: /^1$/ }).waitFor();

    // Listen as a user in the browser: a second user online.
    const listen = page.locator('#listen');
    await listen.getByLabel('User id').fill('console-user');
    await listen.getByRole('button', { name: 'Connect', exact: true }).click();
    await page.getByText('Connected as console-user').waitFor();
    await page.locator('#users', { hasText: /^2$/ }).waitFor();

    // Emit to that user from the emit panel: the response shows, and the event arrives.
    const toUser = page.locator('form.emit').first();
    await toUser.getByLabel('User id').fill('console-user');
    await toUser.getByLabel('Event').fill('notification');
    await toUser.getByLabel('Payload (JSON)').fill('{ "title": "Hello from the console", "type": "lead_assigned" }');
    await toUser.getByRole('button', { name: 'Send to user' }).click();
    await toUser.locator('.result').getByText('200 OK').waitFor();
    assert.match((await toUser.locator('.result pre').textContent()) ?? '', /"sockets": 1/);
    const received = page.locator('#listen-log li').first();
    await received.getByText('notification').waitFor();
    assert.match((await received.textContent()) ?? '', /Hello from the console/);

    // The same panel reaches clients outside the browser.
    const arrival = nextEvent(alice, 'notification');
    await toUser.getByLabel('User id').fill('alice');
    await toUser.getByRole('button', { name: 'Send to user' }).click();
    assert.deepEqual(await arrival, { title: 'Hello from the console', type: 'lead_assigned' });

    // A payload that is not JSON is caught in the page, on the field.
    await toUser.getByLabel('Payload (JSON)').fill('{ oops');
    await toUser.getByRole('button', { name: 'Send to user' }).click();
    await toUser.locator('.result').getByText('Not sent').waitFor();
    assert.equal(await toUser.getByLabel('Payload (JSON)').getAttribute('aria-invalid'), 'true');
    await toUser.getByLabel('Payload (JSON)').fill('{ "title": "Hello from the console", "type": "lead_assigned" }');
    await toUser.getByLabel('User id').fill('console-user');
    await toUser.getByRole('button', { name: 'Send to user' }).click();
    await page.locator('#listen-log li').nth(1).waitFor();

    const screenshot = join(mkdtempSync(join(tmpdir(), 'gs-console-')), 'console.png');
    await page.evaluate('window.scrollTo(0, 0)');
    await page.screenshot({ path: screenshot, fullPage: true });
    if (process.env.UPDATE_SCREENSHOTS === '1') copyFileSync(screenshot, README_SCREENSHOT);
  });

  it('is accessible: every field has a label, and the page loads nothing from elsewhere', async (t) => {
    if (!available) return t.skip('Chromium is not installed');
    const unlabeled = await page.evaluate(
      "[...document.querySelectorAll('input, select, textarea')].filter((field) => field.labels.length === 0).map((field) => field.id || field.name)",
    );
    assert.deepEqual(unlabeled, []);
    assert.ok(requests.length > 0);
    assert.deepEqual(
      requests.filter((url) => !url.startsWith(gw.url)),
      [],
      'no CDN or other outside request',
    );
    assert.deepEqual(pageErrors, [], 'no script error in the page');
  });

  it('signs out, forgetting the key', async (t) => {
    if (!available) return t.skip('Chromium is not installed');
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    assert.equal(await page.evaluate('sessionStorage.length'), 0);
    assert.equal(await page.locator('#emit').isVisible(), false);
  });

  it('signing out while a figures refresh and a listen token are on their way leaves nothing running', async (t) => {
    if (!available) return t.skip('Chromium is not installed');
    await page.getByLabel('API key').fill(API_KEY);
    await page.getByLabel('API key').press('Enter');
    await page.locator('#figures').waitFor({ state: 'visible' });
    const listening = (): number => [...gw.gateway.io.of('/v1/shared').sockets.values()].filter((socket) => socket.data.userId === 'late-listener').length;

    // Hold the next figures refresh and the listen token until after signing out.
    const held: Route[] = [];
    let heldStats: () => void = () => undefined;
    let heldToken: () => void = () => undefined;
    const statsHeld = new Promise<void>((resolve) => (heldStats = resolve));
    const tokenHeld = new Promise<void>((resolve) => (heldToken = resolve));
    const hold = (url: URL): boolean => url.pathname === '/stats' || url.pathname === '/console/token';
    let holding = true;
    await page.route(hold, async (route) => {
      if (!holding) return route.continue();
      held.push(route);
      (new URL(route.request().url()).pathname === '/stats' ? heldStats : heldToken)();
    });
    await statsHeld;
    await page.locator('#listen').getByLabel('User id').fill('late-listener');
    await page.locator('#listen').getByRole('button', { name: 'Connect', exact: true }).click();
    await tokenHeld;
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('API key').waitFor();
    const signedOut = requests.length;
    holding = false;
    for (const route of held) await route.continue();
    await page.unroute(hold);

    // Longer than the 2 s refresh period: a loop that survived would have called /stats again.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    assert.deepEqual(
      requests.slice(signedOut).filter((url) => new URL(url).pathname === '/stats'),
      [],
      'no figures refresh after signing out',
    );
    assert.equal(listening(), 0, 'no socket connected after signing out');
    assert.deepEqual(pageErrors, []);
  });
});
