/**
 * Readiness: the dependencies a gateway needs before it can serve (the database, the cluster bus).
 * `GET /readyz` and the `dependency_up` metric both read them through `checkProbes`.
 */

/** What one probe found. */
export interface ProbeResult {
  readonly ok: boolean;
  /** Why, for an operator; it may name internal hosts, so /readyz shows it only to API key holders. */
  readonly detail?: string;
}

/** A dependency the gateway needs to be ready. */
export interface ReadinessProbe {
  readonly name: string;
  check(): Promise<ProbeResult>;
}

/** Runs every probe at once; a probe that throws counts as not ok. */
export async function checkProbes(probes: readonly ReadinessProbe[]): Promise<(readonly [string, ProbeResult])[]> {
  return Promise.all(
    probes.map(async (probe) => {
      try {
        return [probe.name, await probe.check()] as const;
      } catch (error) {
        return [probe.name, { ok: false, detail: (error as Error).message }] as const;
      }
    }),
  );
}
