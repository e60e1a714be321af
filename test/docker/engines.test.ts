import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCli } from '../helpers/cli-process.js';
import { EngineProxy } from '../helpers/engine-proxy.js';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { cli, copyProject, REPO } from '../helpers/project.js';

/**
 * Every way the docker CLI reaches an engine, against the real one: a unix socket, plain tcp (a
 * loopback proxy to the socket), TLS with client certificates (a TLS front made with openssl's
 * certificates), docker contexts written by the real docker CLI, and ssh through a real OpenSSH
 * server on a loopback port with key authentication and a known_hosts check.
 */

const HOME_ENV = { PATH: process.env.PATH ?? '/usr/bin:/bin', CI: process.env.CI };

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate, all by openssl. */
async function makeCertificates(dir: string): Promise<void> {
  await writeFile(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await writeFile(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const name of ['ca', 'server', 'client', 'rogue-ca']) openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}-key.pem`], dir);
  openssl(['req', '-x509', '-new', '-key', 'ca-key.pem', '-subj', '/CN=pb-test-ca', '-days', '2', '-out', 'ca.pem'], dir);
  openssl(['req', '-x509', '-new', '-key', 'rogue-ca-key.pem', '-subj', '/CN=pb-rogue-ca', '-days', '2', '-out', 'rogue-ca.pem'], dir);
  for (const name of ['server', 'client']) {
    openssl(['req', '-new', '-key', `${name}-key.pem`, '-subj', `/CN=pb-test-${name}`, '-out', `${name}.csr`], dir);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-days', '2', '-extfile', `${name}.ext`, '-out', `${name}.pem`], dir);
  }
}

/** A TLS front for the engine's socket that requires a client certificate from `ca.pem` (or, with `clientCert: false`, asks for none). */
async function startTlsFront(dir: string, options: { clientCert?: boolean } = {}): Promise<{ server: TlsServer; port: number }> {
  const clientCert = options.clientCert !== false;
  const server = createTlsServer({
    key: await readFile(join(dir, 'server-key.pem')),
    cert: await readFile(join(dir, 'server.pem')),
    ...(clientCert ? { ca: await readFile(join(dir, 'ca.pem')), requestCert: true, rejectUnauthorized: true } : {}),
  });
  server.on('secureConnection', (client) => {
    const upstream = connect('/var/run/docker.sock');
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as { port: number }).port };
}

async function freePort(): Promise<number> {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** OpenSSH's sshd on 127.0.0.1:port: its own host key, root by key only, in the foreground (stopped by PID). */
async function startSshd(dir: string, authorizedKey: string): Promise<{ child: ChildProcess; port: number; hostKeyLine: string }> {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  await writeFile(join(dir, 'authorized_keys'), authorizedKey, { mode: 0o600 });
  const port = await freePort();
  await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const config = [
    `ListenAddress 127.0.0.1:${port}`,
    `HostKey ${join(dir, 'host_key')}`,
    `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
    `PidFile ${join(dir, 'sshd.pid')}`,
    'PermitRootLogin prohibit-password',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'UsePAM no',
    // The key files live under /tmp (world-writable): sshd would refuse them with StrictModes.
    'StrictModes no',
    'LogLevel ERROR',
  ].join('\n');
  await writeFile(join(dir, 'sshd_config'), `${config}\n`);
  const child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  for (let i = 0; ; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) break;
    if (i > 50 || child.exitCode !== null) throw new Error(`sshd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const hostKeyLine = `[127.0.0.1]:${port} ${(await readFile(join(dir, 'host_key.pub'), 'utf8')).trim().split(' ').slice(0, 2).join(' ')}\n`;
  return { child, port, hostKeyLine };
}

interface EnvReport {
  outcome?: string;
  fingerprint?: { arch: string };
  error?: { code: string; message: string; fix: string };
}

async function probe(env: Record<string, string | undefined>, extra: string[] = []): Promise<{ code: number; report: EnvReport; stderr: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-engines-'));
  const run = await cli(dir, ['env', '--image', HOST_BOOKWORM, '--json', ...extra], env);
  await rm(dir, { recursive: true, force: true });
  return { code: run.code, report: JSON.parse(run.stdout || '{}') as EnvReport, stderr: run.stderr };
}

describe.skipIf(skipDocker)('engines as the docker CLI finds them (real engine, real TLS, real contexts, real sshd)', () => {
  let work: string;
  let proxy: EngineProxy;
  let tls: { server: TlsServer; port: number };
  let sshd: { child: ChildProcess; port: number; hostKeyLine: string } | null = null;

  beforeAll(async () => {
    await requireDocker();
    work = await mkdtemp(join(tmpdir(), 'pb-engines-work-'));
    await mkdir(join(work, 'certs'));
    await makeCertificates(join(work, 'certs'));
    proxy = await EngineProxy.start();
    tls = await startTlsFront(join(work, 'certs'));
  });

  afterAll(async () => {
    proxy?.kill();
    tls?.server.close();
    if (sshd) {
      sshd.child.kill('SIGTERM');
      await new Promise((r) => sshd!.child.once('exit', r));
    }
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('unix socket (default, DOCKER_HOST, --host) and plain tcp answer; --host wins over DOCKER_HOST', async () => {
    const home = await mkdtemp(join(tmpdir(), 'pb-home-'));
    for (const env of [{ HOME: home }, { HOME: home, DOCKER_HOST: 'unix:///var/run/docker.sock' }, { HOME: home, DOCKER_HOST: proxy.url }]) {
      const { code, report } = await probe({ ...HOME_ENV, ...env });
      expect(code, JSON.stringify(report)).toBe(0);
      expect(report.fingerprint?.arch).toBe('x86_64');
    }
    const wins = await probe({ ...HOME_ENV, HOME: home, DOCKER_HOST: 'tcp://127.0.0.1:1' }, ['--host', proxy.url]);
    expect(wins.code, JSON.stringify(wins.report)).toBe(0);
    const plain = await probe({ ...HOME_ENV, HOME: home, DOCKER_HOST: 'tcp://127.0.0.1:1' });
    expect(plain.report.error).toMatchObject({ code: 'DOCKER_UNAVAILABLE' });
    expect(plain.report.error?.message).toContain('No Docker engine answers at tcp://127.0.0.1:1 (DOCKER_HOST)');
    expect(plain.report.error?.fix).toContain('should not be plain tcp');
    const bad = await probe({ ...HOME_ENV, HOME: home, DOCKER_HOST: 'ftp://x' });
    expect(bad.code).toBe(2);
    expect(bad.report.error).toMatchObject({ code: 'ENGINE_ADDRESS_INVALID' });
    await rm(home, { recursive: true, force: true });
  });

  it('a socket this user may not use: the fix says so (group), not "start the engine"', () => {
    // The compiled CLI as nobody (no docker group): connect() gets EACCES on the root-owned socket.
    let out = '';
    try {
      execFileSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, join(REPO, 'dist/builder.js'), 'env', '--image', HOST_BOOKWORM, '--json'], { cwd: '/', env: { PATH: process.env.PATH, HOME: '/nonexistent' }, encoding: 'utf8' });
    } catch (err) {
      out = (err as { stdout: string }).stdout;
    }
    const { error } = JSON.parse(out) as { error: { code: string; message: string; fix: string } };
    expect(error.code).toBe('DOCKER_UNAVAILABLE');
    expect(error.message).toContain('EACCES');
    expect(error.fix).toContain('is there but this user may not use it');
  });

  it('TLS: DOCKER_TLS_VERIFY + DOCKER_CERT_PATH with client certificates answers; a wrong CA or no client certificate does not', async () => {
    const certs = join(work, 'good');
    await mkdir(certs);
    for (const [from, to] of [['ca.pem', 'ca.pem'], ['client.pem', 'cert.pem'], ['client-key.pem', 'key.pem']]) await writeFile(join(certs, to!), await readFile(join(work, 'certs', from!)));
    const env = { ...HOME_ENV, HOME: work, DOCKER_HOST: `tcp://127.0.0.1:${tls.port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: certs };
    const ok = await probe(env);
    expect(ok.code, JSON.stringify(ok.report)).toBe(0);
    expect(ok.report.fingerprint?.arch).toBe('x86_64');
    // Without TLS the same port is not an engine.
    const noTls = await probe({ ...HOME_ENV, HOME: work, DOCKER_HOST: `tcp://127.0.0.1:${tls.port}` });
    expect(noTls.report.error?.code).toBe('DOCKER_UNAVAILABLE');

    const rogue = join(work, 'rogue');
    await mkdir(rogue);
    await writeFile(join(rogue, 'ca.pem'), await readFile(join(work, 'certs', 'rogue-ca.pem')));
    await writeFile(join(rogue, 'cert.pem'), await readFile(join(work, 'certs', 'client.pem')));
    await writeFile(join(rogue, 'key.pem'), await readFile(join(work, 'certs', 'client-key.pem')));
    const wrongCa = await probe({ ...env, DOCKER_CERT_PATH: rogue });
    expect(wrongCa.report.error?.code).toBe('DOCKER_UNAVAILABLE');
    expect(wrongCa.report.error?.message).toMatch(/certificate/i);
    expect(wrongCa.report.error?.fix).toContain(`docker --tlsverify -H tcp://127.0.0.1:${tls.port} version`);

    const caOnly = join(work, 'ca-only');
    await mkdir(caOnly);
    await writeFile(join(caOnly, 'ca.pem'), await readFile(join(work, 'certs', 'ca.pem')));
    const noClientCert = await probe({ ...env, DOCKER_CERT_PATH: caOnly });
    expect(noClientCert.report.error?.code).toBe('DOCKER_UNAVAILABLE');
  });

  it('TLS downgrade refused: http:// and https:// are not engine addresses (the CLI refuses them); nothing is sent in plaintext', async () => {
    // A plain listener that counts connections: a downgrade would reach it in plaintext.
    let connections = 0;
    const listener = createTcpServer((socket) => {
      connections++;
      socket.destroy();
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    const { port } = listener.address() as { port: number };
    try {
      for (const host of [`http://127.0.0.1:${port}`, `https://127.0.0.1:${port}`, `HTTP://127.0.0.1:${port}`]) {
        const run = await probe({ ...HOME_ENV, HOME: work, DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: join(work, 'certs') });
        expect(run.code, JSON.stringify(run.report)).toBe(2);
        expect(run.report.error?.code).toBe('ENGINE_ADDRESS_INVALID');
        expect(run.report.error?.message).toMatch(/is not an engine address \(the docker CLI refuses it too\)/);
      }
      expect(connections).toBe(0);
    } finally {
      listener.close();
    }
  });

  it('TLS with DOCKER_CERT_PATH holding only ca.pem (a server that asks no client certificate): works, as with the CLI', async () => {
    const { server, port } = await startTlsFront(join(work, 'certs'), { clientCert: false });
    try {
      const caOnly = join(work, 'ca-only-open');
      await mkdir(caOnly, { recursive: true });
      await writeFile(join(caOnly, 'ca.pem'), await readFile(join(work, 'certs', 'ca.pem')));
      const run = await probe({ ...HOME_ENV, HOME: work, DOCKER_HOST: `tcp://127.0.0.1:${port}`, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: caOnly });
      expect(run.code, JSON.stringify(run.report) + run.stderr).toBe(0);
      expect(run.report.fingerprint?.arch).toBe('x86_64');
      // And TLS really applies: the same port spoken to in plaintext is no engine.
      const plain = await probe({ ...HOME_ENV, HOME: work, DOCKER_HOST: `tcp://127.0.0.1:${port}` });
      expect(plain.report.error?.code).toBe('DOCKER_UNAVAILABLE');
    } finally {
      server.close();
    }
  });

  it('docker contexts written by the real docker CLI: the current one (docker context use), DOCKER_CONTEXT over it, DOCKER_HOST over both, TLS files from the store', async () => {
    const config = join(work, 'docker-config');
    const docker = (...args: string[]) => execFileSync('docker', args, { env: { ...process.env, DOCKER_CONFIG: config }, stdio: ['ignore', 'pipe', 'pipe'] });
    docker('context', 'create', 'via-proxy', '--docker', `host=${proxy.url}`);
    docker('context', 'create', 'via-tls', '--docker', `host=tcp://127.0.0.1:${tls.port},ca=${join(work, 'certs/ca.pem')},cert=${join(work, 'certs/client.pem')},key=${join(work, 'certs/client-key.pem')}`);
    docker('context', 'create', 'nowhere', '--docker', 'host=tcp://127.0.0.1:1');
    docker('context', 'use', 'via-proxy');
    const env = { ...HOME_ENV, HOME: work, DOCKER_CONFIG: config };
    const current = await probe(env);
    expect(current.code, JSON.stringify(current.report)).toBe(0);
    const viaTls = await probe({ ...env, DOCKER_CONTEXT: 'via-tls' });
    expect(viaTls.code, JSON.stringify(viaTls.report)).toBe(0);
    const nowhere = await probe({ ...env, DOCKER_CONTEXT: 'nowhere' });
    expect(nowhere.report.error?.message).toContain('No Docker engine answers at tcp://127.0.0.1:1 (docker context "nowhere" (DOCKER_CONTEXT))');
    expect(nowhere.report.error?.fix).toContain('docker context inspect');
    docker('context', 'use', 'nowhere');
    const overridden = await probe({ ...env, DOCKER_HOST: proxy.url });
    expect(overridden.code).toBe(0);
    const missing = await probe({ ...env, DOCKER_CONTEXT: 'never-made' });
    expect(missing.code).toBe(2);
    expect(missing.report.error?.message).toMatch(/docker context "never-made" \(DOCKER_CONTEXT\): no such context/);
  });

  it('ssh: a real sshd, key authentication, known_hosts checked; env and a whole build go through `docker system dial-stdio`; an unknown or changed host key is refused', async () => {
    const home = join(work, 'ssh-home');
    await mkdir(join(home, '.ssh'), { recursive: true, mode: 0o700 });
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519')]);
    sshd = await startSshd(join(work, 'certs'), await readFile(join(home, '.ssh', 'id_ed25519.pub'), 'utf8'));
    const env = { ...HOME_ENV, HOME: home, DOCKER_HOST: `ssh://root@127.0.0.1:${sshd.port}` };

    const unknown = await probe(env);
    expect(unknown.report.error?.code).toBe('DOCKER_UNAVAILABLE');
    expect(unknown.report.error?.fix).toContain(`The host key of [127.0.0.1]:${sshd.port} is not in ~/.ssh/known_hosts`);

    await writeFile(join(home, '.ssh', 'known_hosts'), `[127.0.0.1]:${sshd.port} ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n`);
    const changed = await probe(env);
    expect(changed.report.error?.fix).toContain('may be someone in the middle');

    await writeFile(join(home, '.ssh', 'known_hosts'), sshd.hostKeyLine);
    const ok = await probe(env);
    expect(ok.code, JSON.stringify(ok.report)).toBe(0);
    expect(ok.report.fingerprint?.arch).toBe('x86_64');

    // The compiled CLI as a user runs it: the answer on stdout, nothing but progress on stderr.
    const real = startCli(work, ['env', '--image', HOST_BOOKWORM, '--json'], { ...env, DOCKER_CONFIG: undefined, DOCKER_CONTEXT: undefined });
    expect((await real.exited).code, real.stderr()).toBe(0);
    expect(JSON.parse(real.stdout())).toMatchObject({ fingerprint: { arch: 'x86_64' } });
    expect(real.stderr()).not.toMatch(/DEP0170|Warning/);

    const project = await copyProject('examples/hello');
    const build = await cli(project, ['build', '--json'], env);
    expect(build.code, build.stdout + build.stderr).toBe(0);
    expect(JSON.parse(build.stdout)).toMatchObject({ outcome: 'built' });
    const local = await copyProject('examples/hello');
    expect((await cli(local, ['build'])).code).toBe(0);
    expect(await readFile(join(project, 'dist/plugins/builder.lock.json'), 'utf8')).toBe(await readFile(join(local, 'dist/plugins/builder.lock.json'), 'utf8'));

    // Another client key, not authorized there.
    await rm(join(home, '.ssh', 'id_ed25519'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(home, '.ssh', 'id_ed25519'), '-C', 'stranger']);
    const denied = await probe(env);
    expect(denied.report.error?.code).toBe('DOCKER_UNAVAILABLE');
    expect(denied.report.error?.fix).toContain(`ssh -p ${sshd.port} root@127.0.0.1 docker version\` must work without a prompt`);
    for (const dir of [project, local]) await rm(dir, { recursive: true, force: true });
  }, 300_000);
});
