import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './host-container.js';

/**
 * A registry of the test's own (Debian's docker-registry, as scripts/ensure-registry.sh runs
 * one), on a loopback port, with storage in a temp directory: a test may stop it for real.
 */
export class PrivateRegistry {
  private child: ChildProcess | null = null;
  private constructor(readonly dir: string, readonly port: number) {}

  get host(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async create(): Promise<PrivateRegistry> {
    const dir = await mkdtemp(join(tmpdir(), 'pb-registry-'));
    return new PrivateRegistry(dir, await freePort());
  }

  async start(): Promise<void> {
    await writeFile(join(this.dir, 'config.yml'), `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${this.dir}/storage\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${this.port}\n`);
    this.child = spawn('docker-registry', ['serve', join(this.dir, 'config.yml')], { stdio: 'ignore' });
    const deadline = Date.now() + 15_000;
    while (!(await fetch(`http://${this.host}/v2/`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false))) {
      if (Date.now() > deadline || this.child.exitCode !== null) throw new Error(`docker-registry did not start on ${this.host}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Stop it (by the pid this object started); its storage stays for a restart. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }

  async remove(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}
