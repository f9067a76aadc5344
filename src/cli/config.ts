/** `general-socket config`: lists every configuration variable with its default and meaning. */
import { describeOptions } from '../config.js';
import { parse, type Command } from './command.js';

/** README's configuration table, as Markdown (a test keeps README equal to it). */
export function configTable(): string {
  const rows = describeOptions().map(
    ({ env, shownDefault, doc }) =>
      `| \`${env}\` | ${shownDefault === '' ? '(empty)' : shownDefault.startsWith('(') ? shownDefault : `\`${shownDefault}\``} | ${doc} |`,
  );
  return ['| Variable | Default | Meaning |', '| --- | --- | --- |', ...rows].join('\n');
}

export const config: Command = {
  summary: 'List the configuration variables, their defaults and meaning',
  help: `Usage: general-socket config [--markdown]

Lists every environment variable the gateway reads, with its default.

Options:
  --markdown    print README's Markdown table
`,
  async run(args, { stdout }) {
    const { values } = parse({ args, options: { markdown: { type: 'boolean' } }, strict: true });
    if (values.markdown) {
      stdout.write(`${configTable()}\n`);
      return 0;
    }
    for (const { env, shownDefault, doc } of describeOptions()) {
      stdout.write(`${env} (default: ${shownDefault === '' ? 'empty' : shownDefault})\n    ${doc}\n`);
    }
    return 0;
  },
};
