/**
 * Development secrets: outside production, a gateway started with no keys generates them once and
 * keeps them in DATA_DIR/dev-secrets.json (mode 0600), so that restarts keep issued tokens valid and
 * the CLI (`token`, `emit`) can use the same keys without anyone copying them around.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The secrets a development gateway uses when none are configured. */
export interface DevSecrets {
  readonly apiKey: string;
  readonly jwtSecret: string;
  readonly scraperKey: string;
}

/** Path of the development secrets file inside a data folder. */
export function devSecretsPath(dataDir: string): string {
  return join(dataDir, 'dev-secrets.json');
}

/** Reads the development secrets of `dataDir`, generating and saving them on first use. */
export function loadDevSecrets(dataDir: string): DevSecrets {
  const path = devSecretsPath(dataDir);
  const existing = readExisting(path);
  if (existing) return existing;
  const secrets: DevSecrets = {
    apiKey: `dev_${randomBytes(24).toString('base64url')}`,
    jwtSecret: randomBytes(32).toString('base64url'),
    scraperKey: `scraper_${randomBytes(24).toString('base64url')}`,
  };
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  try {
    // 'wx' so that two processes starting at once agree on the first file written.
    writeFileSync(path, `${JSON.stringify(secrets, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return readExisting(path) ?? secrets;
  }
  return secrets;
}

/**
 * A warning when other users of the machine can read (or change) the development secrets file, as a
 * copy or an editor may leave it; undefined when it is the owner's only, or absent.
 */
export function devSecretsExposure(dataDir: string): string | undefined {
  const path = devSecretsPath(dataDir);
  let mode: number;
  try {
    mode = statSync(path).mode & 0o777;
  } catch {
    return undefined;
  }
  if ((mode & 0o077) === 0) return undefined;
  return `${path} can be read by other users of this machine (mode ${mode.toString(8)}), and it holds the API key and the JWT secret: run "chmod 600 ${path}"`;
}

/** Reads the development secrets of `dataDir` without creating them; undefined when there are none yet. */
export function readDevSecrets(dataDir: string): DevSecrets | undefined {
  return readExisting(devSecretsPath(dataDir));
}

function readExisting(path: string): DevSecrets | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const parsed = JSON.parse(text) as Partial<DevSecrets>;
  if (typeof parsed.apiKey !== 'string' || typeof parsed.jwtSecret !== 'string' || typeof parsed.scraperKey !== 'string') {
    throw new Error(`${path} is not a development secrets file; delete it to generate a new one`);
  }
  return parsed as DevSecrets;
}
