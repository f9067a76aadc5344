/** `general-socket errors`: lists every error code the gateway answers with, REST and Socket.IO. */
import { errorRegistry, httpErrorTable, socketErrorRegistry, socketErrorTable } from '../errors.js';
import { parse, type Command } from './command.js';

export const errors: Command = {
  summary: 'List the error codes of the REST API and of refused Socket.IO clients',
  help: `Usage: general-socket errors [--markdown]

Lists every error code: REST errors with their HTTP status, and the codes a refused Socket.IO
client receives as connect_error data.code.

Options:
  --markdown    print README's Markdown tables
`,
  async run(args, { stdout }) {
    const { values } = parse({ args, options: { markdown: { type: 'boolean' } }, strict: true });
    if (values.markdown) {
      stdout.write(`${httpErrorTable()}\n\n${socketErrorTable()}\n`);
      return 0;
    }
    for (const [code, { status, when }] of Object.entries(errorRegistry)) stdout.write(`${status} ${code}\n    ${when}\n`);
    for (const [code, { namespace, when }] of Object.entries(socketErrorRegistry)) stdout.write(`socket ${code} (${namespace})\n    ${when}\n`);
    return 0;
  },
};
