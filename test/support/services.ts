/**
 * Whether a service some tests need (PostgreSQL, Redis, Chromium) is there. When it is not, the
 * caller skips with a visible notice, unless REQUIRE_SERVICES=1 (CI), where a skip would hide a
 * broken setup: then this throws.
 */
export async function requireService(name: string, probe: () => Promise<boolean> | boolean): Promise<boolean> {
  let available = false;
  try {
    available = await probe();
  } catch {
    available = false;
  }
  if (available) return true;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${name} is not available, and REQUIRE_SERVICES=1 requires it`);
  process.stderr.write(`\n# NOTICE: ${name} is not available: skipping the tests that need it (REQUIRE_SERVICES=1 makes this a failure)\n`);
  return false;
}
