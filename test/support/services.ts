/**
 * Tests that need a service (PostgreSQL, Redis, Chromium) ask here first. An absent service skips them
 * with a visible notice, unless REQUIRE_SERVICES=1 (CI), where it fails them.
 */

/** Probes before a service counts as absent: on a machine busy with two suites, one answer may come too late. */
const PROBE_ATTEMPTS = 3;

/**
 * Resolves true when `probe` succeeds (throwing or returning false means the service is absent) in one
 * of PROBE_ATTEMPTS tries; otherwise prints a notice and resolves false, or throws under REQUIRE_SERVICES=1.
 */
export async function requireService(name: string, probe: () => unknown): Promise<boolean> {
  let reason = 'not found';
  for (let attempt = 1; attempt <= PROBE_ATTEMPTS; attempt++) {
    try {
      if ((await probe()) !== false) return true;
      reason = 'not found';
    } catch (error) {
      reason = (error as Error).message;
    }
    if (attempt < PROBE_ATTEMPTS) await new Promise((resolve) => setTimeout(resolve, 250));
  }
  reason = `${reason} (${PROBE_ATTEMPTS} tries)`;
  if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${name} is required (REQUIRE_SERVICES=1) but unavailable: ${reason}`);
  process.stderr.write(`\n# NOTICE: ${name} is unavailable (${reason}); its tests are SKIPPED. Set REQUIRE_SERVICES=1 to fail instead.\n\n`);
  return false;
}
