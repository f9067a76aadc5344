import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import * as root from '../src/index.js';
import type { Config, ErrorBody, ErrorCode, Gateway, SocketErrorCode } from '../src/index.js';
import ts from 'typescript';
import { ensureBuilt, ROOT } from './support/dist.js';
import { API_KEY, assertSent, nextEvent, startGateway, type TestGateway } from './support/gateway.js';

/** What `import ... from 'general-socket'` offers at run time; its types are pinned by the import above. */
const ROOT_EXPORTS = ['ConfigError', 'GatewayError', 'createGateway', 'errorRegistry', 'loadConfig', 'socketErrorRegistry'];
export type RootTypes = [Config, Gateway, ErrorBody, ErrorCode, SocketErrorCode];

/** The files a module reaches through its imports, following relative specifiers; throws on any other. */
function importClosure(entry: string): string[] {
  const seen = new Set<string>();
  const visit = (file: string): void => {
    if (seen.has(file)) return;
    seen.add(file);
    const source = readFileSync(file, 'utf8');
    const specifiers = [...source.matchAll(/(?:^|\s)(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]/gm)].map((m) => m[1] ?? m[2]);
    for (const specifier of specifiers) {
      assert.match(specifier!, /^\.\.?\/[\w./-]+\.js$/, `${file} imports ${specifier}: the SDK may import only its own files`);
      visit(join(dirname(file), specifier!));
    }
    assert.doesNotMatch(source, /\brequire\(/, `${file} uses require`);
  };
  visit(entry);
  return [...seen];
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program to its end, killing it after `timeoutMs`; rejects only when it cannot start. */
function exec(command: string, args: string[], cwd: string, timeoutMs: number, env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr: code === null ? `${stderr}\n(killed after ${timeoutMs} ms)` : stderr });
    });
  });
}

/** What a service that installed the package writes: plain JavaScript against `general-socket/client`. */
const CONSUMER_JS = `
import { createClient, GeneralSocketError } from 'general-socket/client';
import * as root from 'general-socket';

const client = createClient({ baseUrl: process.env.GS_URL, apiKey: process.env.GS_KEY });
const sent = await client.emitToUser('pkg-user', 'notification', { title: 'from the installed package' });
let refused;
try {
  await createClient({ baseUrl: process.env.GS_URL, apiKey: 'wrong' }).emitToUser('pkg-user', 'x', {});
} catch (error) {
  refused = { isTyped: error instanceof GeneralSocketError, code: error.code, status: error.status };
}
console.log(JSON.stringify({ sent, refused, health: await client.health(), rootExports: Object.keys(root).sort(), createGateway: typeof root.createGateway }));
`;

/** Typed use of the SDK; every @ts-expect-error fails the check if the types were \`any\`. */
const CONSUMER_TS = `
import { createClient, GeneralSocketError, type EmitResult, type StatsResult, type ReadinessResult } from 'general-socket/client';

const client = createClient({ baseUrl: 'http://localhost:4000', apiKey: 'key', timeoutMs: 5000, retry: { retries: 3, onRetry: (info) => console.log(info.delayMs) } });

export async function use(signal: AbortSignal): Promise<number> {
  const one: EmitResult = await client.emitToUser('64user123', 'notification', { title: 'New Lead' }, { signal });
  await client.emitToUsers(['64user1', '64user2'], 'system_announcement', { priority: 'high' });
  await client.emitToUsers('64user1', 'broadcast', null);
  await client.emitToScraper('xyz123abc', 'scrape_task', { task_id: '001' });
  await client.emitMessage('prospect', '64msg');
  await client.emitConversation('prospect', '64conv', 'new');
  await client.emitConversation('prospect', '64conv', false, { timeoutMs: 1000 });
  const stats: StatsResult = await client.stats();
  const ready: ReadinessResult = await client.readiness();
  const status: 'ok' = (await client.health()).status;
  try {
    await client.emitToUser('a', 'b', {});
  } catch (error) {
    if (error instanceof GeneralSocketError) {
      const fields: [string, number, number, string] = [error.code, error.errno, error.status, error.message];
      console.log(fields);
    }
  }
  // @ts-expect-error -- isNew is 'new', 'existing' or a boolean
  await client.emitConversation('prospect', '64conv', 'maybe');
  // With streams on, where the event stands in each user's stream.
  const positions: Readonly<Record<string, string>> | undefined = one.positions;
  // @ts-expect-error -- sockets is a number
  const wrong: string = one.sockets;
  // @ts-expect-error -- there is no such method
  client.emitToEveryone();
  // @ts-expect-error -- baseUrl is required
  createClient({ apiKey: 'key' });
  console.log(wrong, ready.ready, status, positions);
  return one.sockets + stats.users;
}
`;

const TSCONFIG = {
  compilerOptions: {
    target: 'ES2022',
    module: 'NodeNext',
    moduleResolution: 'NodeNext',
    strict: true,
    noEmit: true,
    // No @types/node: the SDK's types must stand on the standard fetch types alone.
    lib: ['ES2022', 'DOM'],
    types: [],
  },
  files: ['consumer.ts'],
};

describe('the package root', () => {
  it('offers createGateway, loadConfig and the error registry, and nothing else', () => {
    assert.deepEqual(Object.keys(root).sort(), ROOT_EXPORTS);
    assert.equal(typeof root.createGateway, 'function');
    assert.equal(typeof root.loadConfig, 'function');
    assert.equal(root.errorRegistry.NOT_FOUND.status, 404);
    assert.equal(typeof root.socketErrorRegistry.TOKEN_EXPIRED.message, 'string');
  });

  it('is what package.json names for "general-socket"', () => {
    const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
      main: string;
      types: string;
      exports: Record<string, { types: string; default: string }>;
    };
    assert.deepEqual([manifest.main, manifest.types], ['dist/index.js', 'dist/index.d.ts']);
    assert.deepEqual(manifest.exports['.'], { types: './dist/index.d.ts', default: './dist/index.js' });
  });
});

/**
 * Type errors of a project, as `tsc -p` reports them, in the project's own files and in
 * general-socket's declarations, but not inside other packages' declarations: checking all of
 * typebox's (which the SDK's types are derived from) would take tsc half a minute of CPU.
 */
function typeErrors(project: string): string {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(project, 'tsconfig.json'),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
        throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
      },
    },
  )!;
  const program = ts.createProgram({ rootNames: config.fileNames, options: config.options });
  const ours = program.getSourceFiles().filter((file) => !file.fileName.includes('/node_modules/') || file.fileName.includes('/node_modules/general-socket/'));
  const diagnostics = [
    ...config.errors,
    ...program.getOptionsDiagnostics(),
    ...program.getGlobalDiagnostics(),
    ...ours.flatMap((file) => [...program.getSyntacticDiagnostics(file), ...program.getSemanticDiagnostics(file)]),
  ];
  return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (name) => name, getCurrentDirectory: () => project, getNewLine: () => '\n' });
}

describe('the npm package', () => {
  let gw: TestGateway;
  let work: string;
  before(async () => {
    gw = await startGateway();
    work = mkdtempSync(join(tmpdir(), 'gs-package-'));
  });
  after(async () => {
    await gw.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('installs from `npm pack`; `general-socket/client` runs under Node, typechecks, and imports nothing', { timeout: 240_000 }, async (t) => {
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    try {
      await exec(npm, ['--version'], ROOT, 30_000);
    } catch {
      t.skip('npm is not available: the package test needs it (NOTICE: not run)');
      return;
    }

    // dist/ is built once for the whole suite, so `npm pack` skips the `prepare` script that would build it again.
    ensureBuilt();
    const pack = await exec(npm, ['pack', '--ignore-scripts', '--pack-destination', work, '--no-audit', '--no-fund'], ROOT, 180_000);
    assert.equal(pack.code, 0, `npm pack failed:\n${pack.stderr}`);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote a tarball');

    const project = join(work, 'consumer');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    const install = await exec(npm, ['install', join(work, tarball), '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts'], project, 180_000);
    assert.equal(install.code, 0, `npm install failed:\n${install.stderr}`);

    const installed = join(project, 'node_modules', 'general-socket');
    const shipped = readdirSync(installed);
    assert.deepEqual(
      shipped.filter((name) => ['src', 'test', 'bench'].includes(name)),
      [],
      'sources and tests are not shipped',
    );

    // The SDK's JavaScript imports only its own files and the route table, which imports nothing:
    // no dependency, no Node builtin.
    const reached = importClosure(join(installed, 'dist', 'client', 'index.js')).map((file) => relative(installed, file));
    assert.deepEqual(
      reached.filter((file) => !file.startsWith(join('dist', 'client'))),
      [join('dist', 'api', 'routes.js')],
    );

    const socket = await gw.connectUser('pkg-user');
    const arrival = nextEvent(socket, 'notification');
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER_JS);
    const run = await exec(process.execPath, ['consumer.mjs'], project, 30_000, { PATH: process.env.PATH, GS_URL: gw.url, GS_KEY: API_KEY });
    assert.equal(run.code, 0, run.stderr);
    const { sent, ...rest } = JSON.parse(run.stdout);
    assertSent(sent, 1, ['pkg-user']);
    assert.deepEqual(rest, {
      refused: { isTyped: true, code: 'UNAUTHORIZED', status: 401 },
      health: { status: 'ok' },
      rootExports: ROOT_EXPORTS,
      createGateway: 'function',
    });
    assert.deepEqual(await arrival, { title: 'from the installed package' });

    // CommonJS services (the seed's are) can require() it: Node 20.19+ loads ES modules synchronously.
    writeFileSync(join(project, 'consumer.cjs'), "const { createClient } = require('general-socket/client'); console.log(typeof createClient);");
    const required = await exec(process.execPath, ['consumer.cjs'], project, 30_000);
    assert.equal(required.code, 0, required.stderr);
    assert.equal(required.stdout, 'function\n');

    writeFileSync(join(project, 'consumer.ts'), CONSUMER_TS);
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify(TSCONFIG));
    assert.equal(typeErrors(project), '', 'type errors in the consumer project');

    const bin = await exec(process.execPath, [join(project, 'node_modules', '.bin', 'general-socket'), 'emit', '--help'], project, 30_000);
    assert.equal(bin.code, 0, bin.stderr);
    assert.match(bin.stdout, /general-socket emit user <userId> <event>/);
  });
});
