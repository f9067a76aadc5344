/**
 * The layers of src/ point one way: a module imports only from its own layer or a lower one, as
 * README's "Project layout" describes. This test reads every import of src/ and names each one that
 * points up (type-only imports included: they couple the modules all the same).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../src/', import.meta.url));

/** Top to bottom; an entry ending in `/` is a folder. Keep in step with README's "Project layout". */
const LAYERS: readonly (readonly string[])[] = [
  ['main.ts', 'index.ts', 'cli/'],
  ['gateway.ts'],
  ['routes/', 'console/'],
  ['metrics.ts', 'openapi.ts', 'admin-ui.ts'],
  ['http/'],
  [
    'emitter.ts',
    'local-delivery.ts',
    'routing.ts',
    'stats.ts',
    'namespaces.ts',
    'socket-lifecycle.ts',
    'socket-server.ts',
    'socket-limits.ts',
    'handshake-request.ts',
    'stream-cursors.ts',
    'token-expiry.ts',
    'token-revocation.ts',
    'presence/',
  ],
  ['api/', 'client/'],
  ['cluster/', 'store/', 'streams/', 'idempotency/', 'conversations/', 'revocations/'],
  ['config.ts', 'config-values.ts', 'dev-secrets.ts', 'auth/'],
  ['errors.ts', 'ids.ts', 'secrets.ts', 'json-limits.ts', 'readiness.ts', 'internals/'],
];

/** Modules that may import less than their layer allows, and what they may import. */
const NARROWER: Readonly<Record<string, readonly string[]>> = {
  // The SDK ships to other services: the API's schemas and error codes, nothing of the server.
  'client/': ['client/', 'api/', 'errors.ts', 'ids.ts'],
  // Library internals depend on their library only.
  'internals/': ['internals/'],
};

const matches = (file: string, entry: string): boolean => (entry.endsWith('/') ? file.startsWith(entry) : file === entry);

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((entries) => entries.some((entry) => matches(file, entry)));
  assert.notEqual(layer, -1, `src/${file} has no layer: add it to LAYERS in test/layers.test.ts and to README's "Project layout"`);
  return layer;
}

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(SRC, path)] : [];
  });
}

/** The src/ files `file` imports (static, type-only, re-exports and dynamic imports). */
function importsOf(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*'(\.[^']+)'|\bimport\(\s*'(\.[^']+)'\s*\)/g)].map(
    (match) => match[1] ?? match[2]!,
  );
  return specifiers.map((specifier) => normalize(join(dirname(file), specifier)).replace(/\.js$/, '.ts'));
}

describe('layers', () => {
  it('every import of src/ points to the same layer or a lower one', () => {
    const violations: string[] = [];
    for (const file of sourceFiles()) {
      const layer = layerOf(file);
      const narrower = Object.entries(NARROWER).find(([entry]) => matches(file, entry))?.[1];
      for (const target of importsOf(file)) {
        assert.ok(!target.startsWith('..'), `src/${file} imports ${target}, outside src/`);
        if (layerOf(target) < layer) violations.push(`src/${file} imports src/${target}, a higher layer`);
        else if (narrower && !narrower.some((entry) => matches(target, entry)))
          violations.push(`src/${file} imports src/${target}; it may import only ${narrower.join(', ')}`);
      }
    }
    assert.deepEqual(violations, []);
  });

  it('are the layers README describes', () => {
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('**Layers.**'));
    const lines = [...section.matchAll(/^(\d+)\. (.*)$/gm)].map((match) => match[2]!);
    assert.equal(lines.length, LAYERS.length, 'README lists as many layers as this test');
    for (const [index, entries] of LAYERS.entries()) {
      for (const entry of entries) assert.ok(lines[index]!.includes(`\`${entry}\``), `README's layer ${index + 1} names ${entry}`);
    }
  });

  it('sees the imports it checks', () => {
    // Guards the reader above: a parser that found nothing would pass every layering.
    assert.ok(importsOf('gateway.ts').includes('emitter.ts'));
    assert.ok(importsOf('cluster/bus.ts').includes('internals/rate-limit.ts'), 'type-only imports count');
    assert.ok(importsOf('cluster/bus.ts').includes('cluster/redis.ts'), 'dynamic imports count');
    assert.ok(importsOf('api/common.ts').includes('ids.ts'), 're-exports count');
  });
});
