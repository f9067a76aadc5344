import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../src/config.js';
import { configTable } from '../src/cli/config.js';

const tempDir = () => mkdtempSync(join(tmpdir(), 'gs-config-'));
const KEY_A = 'key-a-0123456789abcdef';
const KEY_B = 'key-b-0123456789abcdef';
const SECRET = 'a-production-secret-of-32-characters!';

describe('loadConfig', () => {
  it('refuses production without keys, naming the variables to set', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', DATA_DIR: tempDir() }),
      (error: unknown) => error instanceof ConfigError && /INTERNAL_API_KEY/.test(error.message) && /JWT_SECRET/.test(error.message),
    );
    assert.throws(() => loadConfig({ NODE_ENV: 'production', INTERNAL_API_KEY: 'k' }), /JWT_SECRET \(or JWT_PUBLIC_KEY, or JWT_JWKS_URL\)/);
    assert.throws(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: 's' }), /INTERNAL_API_KEY/);
  });

  it('starts in production with keys, and generates nothing', () => {
    const dataDir = tempDir();
    const config = loadConfig({ NODE_ENV: 'production', INTERNAL_API_KEY: `${KEY_A}, ${KEY_B}`, JWT_SECRET: SECRET, DATA_DIR: dataDir });
    assert.deepEqual(config.internalApiKeys, [KEY_A, KEY_B]);
    assert.deepEqual(config.scraperApiKeys, [], 'no worker key in production means no worker gets in');
    assert.equal(existsSync(join(dataDir, 'dev-secrets.json')), false);
    assert.ok(Object.isFrozen(config));
  });

  it('outside production, generates missing secrets once into DATA_DIR (mode 0600) and reuses them', () => {
    const dataDir = tempDir();
    const first = loadConfig({ DATA_DIR: dataDir });
    const second = loadConfig({ DATA_DIR: dataDir });
    assert.deepEqual(first.generatedSecrets, ['INTERNAL_API_KEY', 'JWT_SECRET', 'SCRAPER_API_KEY']);
    assert.equal(first.internalApiKeys.length, 1);
    assert.ok(first.jwtSecret.length >= 32);
    assert.deepEqual(second.internalApiKeys, first.internalApiKeys);
    assert.equal(second.jwtSecret, first.jwtSecret);
    assert.equal(statSync(join(dataDir, 'dev-secrets.json')).mode & 0o777, 0o600);
  });

  it('refuses guessable secrets in production', () => {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', INTERNAL_API_KEY: `${KEY_A},short`, JWT_SECRET: 'changeme', SCRAPER_API_KEY: 'scraper' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 3 &&
        /JWT_SECRET must have at least 32 characters/.test(error.message) &&
        /each INTERNAL_API_KEY must have at least 16/.test(error.message) &&
        /each SCRAPER_API_KEY must have at least 16/.test(error.message),
    );
  });

  it('refuses two token keys, and an EC key on a curve other than P-256', () => {
    const p256 = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    assert.throws(() => loadConfig({ JWT_SECRET: SECRET, JWT_PUBLIC_KEY: p256, INTERNAL_API_KEY: KEY_A }), /not several/);
    assert.throws(() => loadConfig({ JWT_SECRET: SECRET, JWT_JWKS_URL: 'https://issuer.example/jwks.json', INTERNAL_API_KEY: KEY_A }), /not several/);
    assert.throws(() => loadConfig({ JWT_PUBLIC_KEY: p384, INTERNAL_API_KEY: KEY_A }), /JWT_PUBLIC_KEY .*curve secp384r1 is not P-256/);
    assert.equal(loadConfig({ JWT_PUBLIC_KEY: p256, INTERNAL_API_KEY: KEY_A, SCRAPER_API_KEY: KEY_B }).jwtPublicKey, p256.trim());
  });

  it('reports every invalid value at once, naming each variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', RATE_LIMIT_MAX: '-1', ALLOWED_IPS: '10.0.0.0/33', NODE_ENV: 'prod', JWT_PUBLIC_KEY: 'not a key' }),
      (error: unknown) =>
        error instanceof ConfigError &&
        error.problems.length === 5 &&
        ['PORT', 'RATE_LIMIT_MAX', 'ALLOWED_IPS entry "10.0.0.0/33"', 'NODE_ENV', 'JWT_PUBLIC_KEY'].every((name) => error.message.includes(name)),
    );
  });

  it('uses the documented defaults', () => {
    const config = loadConfig({ INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' });
    assert.equal(config.port, 4000);
    assert.equal(config.host, '0.0.0.0');
    assert.equal(config.rateLimitMax, 100);
    assert.equal(config.rateLimitWindowMs, 60_000);
    assert.equal(config.maxUserIds, 10_000);
    assert.equal(config.leadFinderNamespace, '/v1/lead-finder');
    assert.deepEqual(config.generatedSecrets, []);
  });

  it('takes a lead-finder namespace, / included, but not one that is not a namespace or is taken', () => {
    const keys = { INTERNAL_API_KEY: 'k', JWT_SECRET: 's', SCRAPER_API_KEY: 'w' };
    assert.equal(loadConfig({ ...keys, LEAD_FINDER_NAMESPACE: '/' }).leadFinderNamespace, '/');
    assert.equal(loadConfig({ ...keys, LEAD_FINDER_NAMESPACE: '/scrapers' }).leadFinderNamespace, '/scrapers');
    assert.throws(
      () => loadConfig({ ...keys, LEAD_FINDER_NAMESPACE: 'scrapers' }),
      /LEAD_FINDER_NAMESPACE must be a namespace such as \/v1\/lead-finder or \//,
    );
    assert.throws(() => loadConfig({ ...keys, LEAD_FINDER_NAMESPACE: '/v1/shared' }), /LEAD_FINDER_NAMESPACE cannot be \/v1\/shared: that namespace is taken/);
  });
});

describe('README', () => {
  it('has the configuration table exactly as the config module declares it', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    assert.ok(readme.includes(configTable()), 'README is out of date: paste the output of "npm run -s cli -- config --markdown"');
  });
});
