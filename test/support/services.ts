/**
 * Tests that need a service (PostgreSQL, Redis) ask here first. When the service is absent they are
 * skipped with a visible notice, unless REQUIRE_SERVICES=1 (set by .ci/run): then it is a failure.
 */

/** Resolves true when `probe` succeeds; otherwise prints a notice and resolves false, or throws under REQUIRE_SERVICES=1. */
export async function requireService(name: string, probe: () => Promise<unknown>): Promise<boolean> {
  try {
    await probe();
    return true;
  } catch (error) {
    const why = `${name} is not available (${(error as Error).message})`;
    if (process.env.REQUIRE_SERVICES === '1') throw new Error(`${why}, and REQUIRE_SERVICES=1 forbids skipping its tests`);
    process.stderr.write(`\n*** SKIPPING tests that need ${name}: ${why}. Start it to run them (see README). ***\n\n`);
    return false;
  }
}
