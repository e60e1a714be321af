import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { runCli } from '../../src/cli/program.js';

export const REPO = resolve(import.meta.dirname, '../..');

/** A private copy of a fixture or example, so tests never write into the repository. */
export async function copyProject(source: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-test-'));
  await cp(resolve(REPO, source), dir, { recursive: true, filter: (src) => !src.includes('/dist/') });
  return dir;
}

export async function editJson(file: string, edit: (value: Record<string, unknown>) => void): Promise<void> {
  const value = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(value);
  await writeFile(file, JSON.stringify(value, null, 2));
}

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The CLI in-process, with the real engine: what a user's `builder …` does, minus the fork. */
export async function cli(cwd: string, args: string[], env: Record<string, string | undefined> = process.env): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, { cwd, env, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

/** Copy and build each project (`builder build`), returning its dist/plugins directory. */
export async function buildCopies(sources: string[], args: string[] = []): Promise<string[]> {
  const dirs: string[] = [];
  for (const source of sources) {
    const dir = await copyProject(source);
    const run = await cli(dir, ['build', ...args]);
    if (run.code !== 0) throw new Error(`builder build of ${source} failed (${run.code}):\n${run.stderr}`);
    dirs.push(join(dir, 'dist/plugins'));
  }
  return dirs;
}
