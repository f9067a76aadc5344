/** The console's entry point: sign in with an API key, then show the figures, emit and listen panels. */
import { setupEmitPanels } from './emit.js';
import { startFigures, stopFigures } from './figures.js';
import { disconnect, setupListenPanel } from './listen.js';
import { apiKey, call, forget, remember } from './session.js';

const listenAvailable = setupListenPanel();
setupEmitPanels();

function section(id: string): HTMLElement {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found;
}

function showSignedIn(signedIn: boolean): void {
  section('sign-in').hidden = signedIn;
  section('sign-out').hidden = !signedIn;
  section('figures').hidden = !signedIn;
  section('emit').hidden = !signedIn;
  section('listen').hidden = !signedIn || !listenAvailable;
  if (signedIn) startFigures();
  else stopFigures();
}

section('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.getElementById('api-key') as HTMLInputElement;
  const error = section('sign-in-error');
  error.textContent = '';
  // The key is checked against a route that needs it before it is kept. A key without the metrics
  // scope is a good key all the same: the figures then show what it lacks, the panels what it may do.
  call('GET', 'stats', undefined, input.value.trim()).then(
    (answer) => {
      const code = (answer.body as { code?: unknown } | undefined)?.code;
      if (answer.status === 200 || (answer.status === 403 && typeof code === 'string' && code.startsWith('SCOPE_'))) {
        remember(input.value.trim());
        input.value = '';
        showSignedIn(true);
        section('figures-title').focus();
      } else {
        error.textContent = `Not signed in: ${(answer.body as { message?: string })?.message ?? `status ${answer.status}`}`;
        input.focus();
      }
    },
    (failure: unknown) => {
      error.textContent = `Cannot reach the gateway: ${(failure as Error).message}`;
    },
  );
});

section('sign-out').addEventListener('click', () => {
  forget();
  disconnect();
  showSignedIn(false);
  document.getElementById('api-key')?.focus();
});

showSignedIn(apiKey() !== null);
