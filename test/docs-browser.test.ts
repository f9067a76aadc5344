/**
 * `/docs` (Swagger UI) in Debian's Chromium over plain HTTP on a host that is not local, as a
 * gateway inside a private network is reached (http://gateway.internal:4000/docs). A Content-Security-
 * Policy with `upgrade-insecure-requests` would make the browser ask for every script and stylesheet
 * over HTTPS, which the gateway does not serve, and the page would stay blank.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium, type Browser } from 'playwright-core';
import { startGateway, type TestGateway } from './support/gateway.js';
import { requireService } from './support/services.js';

const CHROMIUM = '/usr/bin/chromium';
/** A name that resolves, in this browser only, to the gateway on loopback; not a "potentially trustworthy" origin. */
const HOST = 'gateway.internal';

describe('/docs in a real browser over plain HTTP', () => {
  let available = false;
  let gw: TestGateway;
  let browser: Browser;

  before(async () => {
    available = await requireService(`Chromium (${CHROMIUM}; apt-get install -y chromium)`, () => existsSync(CHROMIUM));
    if (!available) return;
    gw = await startGateway();
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--no-first-run', `--host-resolver-rules=MAP ${HOST} 127.0.0.1`],
    });
  });
  after(async () => {
    await browser?.close();
    await gw?.close();
  });

  it('renders the API reference, loading every asset over HTTP from the gateway', async (t) => {
    if (!available) return t.skip('Chromium is not installed');
    const origin = `http://${HOST}:${new URL(gw.url).port}`;
    const page = await browser.newPage();
    page.setDefaultTimeout(15_000);
    const failed: string[] = [];
    const requested: string[] = [];
    page.on('request', (request) => requested.push(request.url()));
    page.on('requestfailed', (request) => failed.push(`${request.url()} (${request.failure()?.errorText})`));
    const response = await page.goto(`${origin}/docs`);
    assert.equal(response?.status(), 200);

    await page.locator('.swagger-ui .info .title', { hasText: 'General Socket REST API' }).waitFor();
    await page.locator('.opblock-summary-path', { hasText: '/emit/{userId}/{emitTo}' }).first().waitFor();
    assert.deepEqual(failed, []);
    assert.doesNotMatch(response?.headers()['content-security-policy'] ?? '', /upgrade-insecure-requests/);
    assert.deepEqual(
      requested.filter((url) => !url.startsWith(`${origin}/`)),
      [],
      'nothing upgraded to https, nothing from elsewhere',
    );
    await page.close();
  });
});
