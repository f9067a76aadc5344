/** Outcome of one HTTP call. */
export interface CallResult {
  status: number;
  body: string;
  ms: number;
}

/** POSTs a JSON (or pre-serialised) body once, bounded by a timeout. */
export async function postJson(baseUrl: string, path: string, body: unknown, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<CallResult> {
  const started = performance.now();
  const response = await fetch(`${baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  return { status: response.status, body: text, ms: performance.now() - started };
}
