/** Connection URLs as logs and /readyz show them: everything but the secrets. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { redactUrl } from '../src/secrets.js';

describe('redactUrl', () => {
  it('hides the password and keeps the user, host, port and database', () => {
    assert.equal(redactUrl('postgres://app:s3cret@db.internal:5432/general_socket'), 'postgres://app:***@db.internal:5432/general_socket');
    assert.equal(redactUrl('redis://:s3cret@10.0.0.5:6379/2'), 'redis://:***@10.0.0.5:6379/2');
    assert.equal(redactUrl('rediss://default:s3cret@cache.example'), 'rediss://default:***@cache.example');
  });

  it('hides a password given as a query parameter, which pg and ioredis both accept', () => {
    const shown = redactUrl('postgres://app@db.internal/general_socket?sslmode=require&password=s3cret');
    assert.ok(!shown.includes('s3cret'), shown);
    assert.equal(new URL(shown).searchParams.get('password'), '***');
    assert.equal(new URL(shown).searchParams.get('sslmode'), 'require');
  });

  it('leaves a URL without secrets as it is', () => {
    const url = 'postgres://postgres@127.0.0.1:5432/test?options=-c%20search_path%3Dmyschema';
    assert.equal(redactUrl(url), url);
    assert.equal(redactUrl('redis://127.0.0.1:6379'), 'redis://127.0.0.1:6379');
  });

  it('shows nothing of a URL it cannot parse', () => {
    assert.equal(redactUrl('postgres://app:s3cret@db:notaport/x'), '(unparsable URL)');
  });
});
