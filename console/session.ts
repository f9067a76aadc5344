/** The signed-in API key (kept only in this tab's session storage) and calls to the gateway with it. */

const STORAGE_KEY = 'general-socket.apiKey';

/** A gateway answer: the HTTP status, the parsed body, and how long it took. */
export interface Answer {
  readonly status: number;
  readonly body: unknown;
  readonly ms: number;
}

/** The API key of this tab, if signed in. */
export function apiKey(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

/** Keeps the key for this tab only: it is gone when the tab closes. */
export function remember(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

/** Forgets the key. */
export function forget(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** The gateway's base URL: the folder the console is served from (works behind a path prefix). */
export const base = new URL('.', location.href);

/** Calls the gateway with the key of this tab (or `key`), relative to the console's folder. */
export async function call(method: string, path: string, body?: unknown, key = apiKey()): Promise<Answer> {
  const started = performance.now();
  const headers: Record<string, string> = { 'x-api-key': key ?? '' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, base), { method, headers, ...(body !== undefined && { body: JSON.stringify(body) }) });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = text === '' ? undefined : JSON.parse(text);
  } catch {
    // Not JSON: shown as text.
  }
  return { status: response.status, body: parsed, ms: Math.round(performance.now() - started) };
}
