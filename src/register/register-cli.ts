import { readFileSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { ApiError, callApi } from '../cli/api-client.js';
import { connection, print, table, UsageError, withConnection } from '../cli/output.js';
import { idPattern } from '../ids/ids.js';
import type { Register } from './register-schema.js';
import type { RegisterProblem } from './validate.js';

// Loaded when a register command runs, so other commands start no slower.
const validation = () => import('./validate.js');

function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new UsageError(`Cannot read ${file}`);
  }
}

/** Validates a local file; prints its problems and fails when there are any. */
async function loadValid(file: string): Promise<Register> {
  const { validateRegister, formatProblem } = await validation();
  const result = validateRegister(readText(file), file);
  if (result.ok) return result.register;
  for (const p of result.problems) process.stderr.write(`${formatProblem(p)}\n`);
  throw new Error(`${file} is not a valid register (${result.problems.length} problems)`);
}

type VersionReply = { id: string; number: number; yaml: string };

export function registerRegisterCommands(program: Command): void {
  const register = program
    .command('register')
    .description('The register: the privacy policy as code (check, render, diff, push, versions)');

  register
    .command('check')
    .description(
      'Validate register files locally; prints file:line:col path: message (allowed: ...)',
    )
    .argument('<files...>', 'register YAML files')
    .option('--json', 'print JSON for scripts', false)
    .action(async (files: string[], options: { json: boolean }) => {
      const { validateRegister, formatProblem } = await validation();
      const problems: RegisterProblem[] = [];
      for (const file of files) {
        const result = validateRegister(readText(file), file);
        if (!result.ok) problems.push(...result.problems);
      }
      print(options, { ok: problems.length === 0, problems }, () =>
        problems.length === 0
          ? `${files.length === 1 ? files[0] : `${files.length} files`}: valid`
          : problems.map(formatProblem).join('\n'),
      );
      if (problems.length > 0)
        throw new Error(`${problems.length} problem${problems.length === 1 ? '' : 's'} found`);
    });

  register
    .command('render')
    .description('Render a register file as the privacy policy (Markdown or HTML), locally')
    .argument('<file>', 'register YAML file')
    .addOption(
      new Option('--format <format>', 'output format').choices(['md', 'html']).default('md'),
    )
    .option('--out <file>', 'write to a file instead of standard output')
    .action(async (file: string, options: { format: 'md' | 'html'; out?: string }) => {
      const { renderPolicy } = await import('./render.js');
      const text = renderPolicy(await loadValid(file), options.format);
      if (options.out) writeFileSync(options.out, text);
      else process.stdout.write(text);
    });

  withConnection(
    register
      .command('diff')
      .description(
        'Show what changed from A to B and whether it is material (files, or version ids rv_...)',
      )
      .argument('<a>', 'register file or version id')
      .argument('<b>', 'register file or version id'),
  ).action(async (a: string, b: string, options) => {
    const { validateRegister } = await validation();
    const { diffRegisters } = await import('./diff.js');
    const load = async (ref: string): Promise<Register> => {
      if (!idPattern('registerVersion').test(ref)) return loadValid(ref);
      const version = await callApi<VersionReply>(
        connection(options),
        'GET',
        `/v1/register/versions/${ref}`,
      );
      const result = validateRegister(version.yaml, ref);
      if (!result.ok) throw new Error(`Version ${ref} no longer validates; check it locally`);
      return result.register;
    };
    const diff = diffRegisters(await load(a), await load(b));
    print(options, diff, () => diff.text);
  });

  withConnection(
    register
      .command('push')
      .description('Validate a register on the server and make it the active version')
      .argument('<file>', 'register YAML file'),
  ).action(async (file: string, options) => {
    const yaml = readText(file);
    try {
      const outcome = await callApi<{ created: boolean; version: { id: string; number: number } }>(
        connection(options),
        'PUT',
        '/v1/register',
        { yaml },
      );
      print(options, outcome, () =>
        outcome.created
          ? `Activated version ${outcome.version.number} (${outcome.version.id})`
          : `Unchanged: ${outcome.version.id} is already active with this content`,
      );
    } catch (error) {
      if (error instanceof ApiError && error.code === 'unprocessable') {
        const { formatProblem } = await validation();
        for (const d of error.details as Partial<RegisterProblem>[])
          process.stderr.write(
            `${formatProblem({ file, line: d.line ?? 1, column: d.column ?? 1, path: d.path ?? '', message: d.message ?? '', ...(d.allowed ? { allowed: d.allowed } : {}) })}\n`,
          );
        throw new Error(error.message);
      }
      throw error;
    }
  });

  withConnection(register.command('versions').description('List register versions')).action(
    async (options) => {
      const page = await callApi<{ items: Record<string, unknown>[] }>(
        connection(options),
        'GET',
        '/v1/register/versions?limit=100',
      );
      print(options, page.items, () =>
        table(page.items, ['number', 'id', 'active', 'createdAt', 'createdBy', 'contentHash']),
      );
    },
  );
}
