/**
 * The emit panels. Each form describes its route in data attributes: `data-method`, `data-path`
 * with `{field}` placeholders, and fields marked `data-in="path"` or `data-in="body"` (`name="."`
 * is the whole body; `data-json` parses the value, `data-list` splits it at commas).
 */
import { call } from './session.js';

class FieldError extends Error {
  constructor(
    readonly field: HTMLElement,
    message: string,
  ) {
    super(message);
  }
}

type Field = HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement;

function fieldValue(field: Field): unknown {
  if (field.dataset.json !== undefined) {
    try {
      return JSON.parse(field.value);
    } catch (error) {
      throw new FieldError(field, `${field.labels?.[0]?.textContent ?? field.name} is not valid JSON: ${(error as Error).message}`);
    }
  }
  if (field.dataset.list !== undefined)
    return field.value
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item !== '');
  return field.value;
}

/** Builds the request a form describes. */
function request(form: HTMLFormElement): { method: string; path: string; body?: unknown } {
  const fields = [...form.querySelectorAll<Field>('[data-in]')];
  let path = form.dataset.path ?? '';
  let body: unknown;
  for (const field of fields) {
    field.removeAttribute('aria-invalid');
    if (field.dataset.in === 'path') {
      path = path.replace(`{${field.name}}`, encodeURIComponent(field.value.trim()));
    } else if (field.name === '.') {
      body = fieldValue(field);
    } else {
      body = { ...(body as object | undefined), [field.name]: fieldValue(field) };
    }
  }
  return { method: form.dataset.method ?? 'POST', path, ...(body !== undefined && { body }) };
}

function show(result: HTMLElement, status: string, ok: boolean, detail: unknown): void {
  const line = document.createElement('p');
  line.className = ok ? 'status-ok' : 'status-error';
  line.textContent = status;
  const pre = document.createElement('pre');
  pre.textContent = typeof detail === 'string' ? detail : JSON.stringify(detail, null, 2);
  result.replaceChildren(line, pre);
}

async function submit(form: HTMLFormElement): Promise<void> {
  const result = form.querySelector<HTMLElement>('.result');
  const button = form.querySelector<HTMLButtonElement>('button[type="submit"]');
  if (!result || !button) return;
  button.disabled = true;
  try {
    const { method, path, body } = request(form);
    const answer = await call(method, path, body);
    show(result, `${answer.status} ${answer.status < 400 ? 'OK' : 'failed'} in ${answer.ms} ms — ${method} /${path}`, answer.status < 400, answer.body);
  } catch (error) {
    if (error instanceof FieldError) {
      error.field.setAttribute('aria-invalid', 'true');
      error.field.focus();
    }
    show(result, 'Not sent', false, (error as Error).message);
  } finally {
    button.disabled = false;
  }
}

/** Wires every emit form of the page. */
export function setupEmitPanels(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>('form.emit')) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      void submit(form);
    });
  }
}
