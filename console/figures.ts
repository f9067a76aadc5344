/** Live figures from `GET /stats`, refreshed every two seconds while signed in. */
import { call } from './session.js';

const REFRESH_MS = 2000;

interface Figures {
  nodes: number;
  users: number;
  /** Distinct users cluster-wide, from the user directory (absent when it cannot be read). */
  online?: number;
  sockets: Record<string, number>;
}

let timer: number | undefined;
/** Bumped by every start and stop: a refresh that finds it changed after its fetch is stale. */
let generation = 0;

function byId(id: string): HTMLElement {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  return element;
}

function render(figures: Figures): void {
  // The directory's count is distinct across nodes; `users` counts a user once per node.
  byId('users').textContent = String(figures.online ?? figures.users);
  byId('nodes').textContent = String(figures.nodes);
  const rows = Object.entries(figures.sockets).map(([namespace, count]) => {
    const row = document.createElement('tr');
    const name = document.createElement('td');
    name.textContent = namespace;
    const value = document.createElement('td');
    value.textContent = String(count);
    value.dataset.namespace = namespace;
    row.append(name, value);
    return row;
  });
  byId('sockets').replaceChildren(...rows);
  byId('figures-status').textContent = `Updated ${new Date().toLocaleTimeString()}.`;
}

async function refresh(current: number): Promise<void> {
  try {
    const answer = await call('GET', 'stats');
    if (current !== generation) return;
    if (answer.status === 200) render(answer.body as Figures);
    else byId('figures-status').textContent = `The gateway answered ${answer.status}: ${(answer.body as { message?: string })?.message ?? ''}`;
  } catch (error) {
    if (current !== generation) return;
    byId('figures-status').textContent = `Cannot reach the gateway: ${(error as Error).message}`;
  }
  timer = window.setTimeout(() => void refresh(current), REFRESH_MS);
}

/** Starts refreshing (again). */
export function startFigures(): void {
  stopFigures();
  void refresh(generation);
}

/** Stops refreshing, also a refresh still waiting for its answer. */
export function stopFigures(): void {
  generation++;
  if (timer !== undefined) window.clearTimeout(timer);
  timer = undefined;
}
