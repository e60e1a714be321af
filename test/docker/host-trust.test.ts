import { execFileSync } from 'node:child_process';
import { appendFile, cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { pae } from '../../src/trust/dsse.js';
import { HOST_BOOKWORM, requireDocker, skipDocker } from '../helpers/docker.js';
import { type HostContainer, startHostContainer } from '../helpers/host-container.js';
import { cli, copyProject } from '../helpers/project.js';
import { hostileRequest, sendRaw } from '../helpers/raw-http.js';

const TOKEN = 'a-long-enough-test-token-4f1c9e';
const auth = { authorization: `Bearer ${TOKEN}` };

async function keygen(dir: string, name: string): Promise<{ key: string; pub: string; keyId: string }> {
  const run = await cli(dir, ['keygen', '--out-dir', dir, '--name', name, '--json']);
  expect(run.code, run.stderr).toBe(0);
  const out = JSON.parse(run.stdout) as { keyId: string; privateKey: string; publicKey: string };
  return { key: out.privateKey, pub: out.publicKey, keyId: out.keyId };
}

describe.skipIf(skipDocker)('signed lockfiles and a hardened host service (real engine, real koffi)', () => {
  let project: string; // examples/hello, built and signed
  let plugins: string; // its dist/plugins: .so files, lockfile, .sig
  let hostile: string; // test/fixtures/hostile built
  let keys: { key: string; pub: string; keyId: string };
  let attacker: { key: string; pub: string; keyId: string };
  const running: HostContainer[] = [];
  const start = async (dir: string, options: Parameters<typeof startHostContainer>[2] = {}) => {
    const host = await startHostContainer(HOST_BOOKWORM, dir, options);
    running.push(host);
    return host;
  };

  beforeAll(async () => {
    await requireDocker();
    const keyDir = await mkdtemp(join(tmpdir(), 'pb-keys-'));
    keys = await keygen(keyDir, 'ci');
    attacker = await keygen(keyDir, 'attacker');
    project = await copyProject('examples/hello');
    const build = await cli(project, ['build', '--sign-key', keys.key]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stdout).toContain('signed');
    plugins = join(project, 'dist/plugins');
    hostile = await copyProject('test/fixtures/hostile');
    // Plugins the runtime must refuse: the build's proof would refuse them first.
    const hostileBuild = await cli(hostile, ['build', '--no-prove']);
    expect(hostileBuild.code, hostileBuild.stderr).toBe(0);
  });

  afterAll(async () => {
    await Promise.all(running.map((h) => h.stop()));
  });

  it('keygen: private key 0600, public 0644, refuses to overwrite; the key id is the SPKI sha256', async () => {
    expect((await stat(keys.key)).mode & 0o777).toBe(0o600);
    expect((await stat(keys.pub)).mode & 0o777).toBe(0o644);
    const again = await cli(join(keys.key, '..'), ['keygen', '--out-dir', join(keys.key, '..'), '--name', 'ci']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('already exists');
    const der = execFileSync('openssl', ['pkey', '-pubin', '-in', keys.pub, '-outform', 'DER']);
    expect(execFileSync('openssl', ['dgst', '-sha256', '-r'], { input: der, encoding: 'utf8' }).split(' ')[0]).toBe(keys.keyId);
  });

  it('build --sign-key writes a DSSE envelope that openssl verifies over the PAE, covering every artifact and the lockfile', async () => {
    const envelope = JSON.parse(await readFile(join(plugins, 'builder.lock.json.sig'), 'utf8')) as { payload: string; payloadType: string; signatures: { keyid: string; sig: string }[] };
    expect(envelope.payloadType).toBe('application/vnd.in-toto+json');
    expect(envelope.signatures.map((s) => s.keyid)).toEqual([keys.keyId]);
    const dir = await mkdtemp(join(tmpdir(), 'pb-openssl-'));
    await writeFile(join(dir, 'pae.bin'), pae(envelope.payloadType, Buffer.from(envelope.payload, 'base64')));
    await writeFile(join(dir, 'sig.bin'), Buffer.from(envelope.signatures[0]!.sig, 'base64'));
    const verified = execFileSync('openssl', ['pkeyutl', '-verify', '-pubin', '-inkey', keys.pub, '-rawin', '-in', join(dir, 'pae.bin'), '-sigfile', join(dir, 'sig.bin')], { encoding: 'utf8' });
    expect(verified).toContain('Signature Verified Successfully');
    const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString()) as { subject: { name: string; digest: { sha256: string } }[] };
    const sha = (f: string) => execFileSync('sha256sum', [join(plugins, f)], { encoding: 'utf8' }).split(' ')[0];
    expect(statement.subject).toEqual([
      { name: 'libgreet.so', digest: { sha256: sha('libgreet.so') } },
      { name: 'libshout.so', digest: { sha256: sha('libshout.so') } },
      { name: 'builder.lock.json', digest: { sha256: sha('builder.lock.json') } },
    ]);
    await rm(dir, { recursive: true, force: true });
  });

  it('builder sign refuses artifacts that differ from the lockfile, and signs when they match', async () => {
    const copy = await mkdtemp(join(tmpdir(), 'pb-sign-'));
    await cp(plugins, copy, { recursive: true });
    await rm(join(copy, 'builder.lock.json.sig'));
    const so = await readFile(join(copy, 'libgreet.so'));
    so[so.length - 1]! ^= 1;
    await writeFile(join(copy, 'libgreet.so'), so);
    const refused = await cli(copy, ['sign', '--key', keys.key, '--dir', copy]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('libgreet.so');
    await cp(join(plugins, 'libgreet.so'), join(copy, 'libgreet.so'));
    const signed = await cli(copy, ['sign', '--key', keys.key, '--dir', copy, '--json']);
    expect(signed.code, signed.stdout).toBe(0);
    // The same statement but for its serial (the signing time: later signatures outrank earlier ones).
    const statementOf = async (dir: string) => {
      const envelope = JSON.parse(await readFile(join(dir, 'builder.lock.json.sig'), 'utf8')) as { payload: string };
      const statement = JSON.parse(Buffer.from(envelope.payload, 'base64').toString('utf8')) as { predicate: { buildDefinition: { internalParameters: { serial?: number } } } };
      const serial = statement.predicate.buildDefinition.internalParameters.serial;
      delete statement.predicate.buildDefinition.internalParameters.serial;
      return { statement, serial };
    };
    const [resigned, original] = [await statementOf(copy), await statementOf(plugins)];
    expect(resigned.statement).toEqual(original.statement);
    expect(resigned.serial).toBeGreaterThan(original.serial!);
    await rm(copy, { recursive: true, force: true });
  });

  it('build --sign-key keeps the signature in step: unchanged stays byte-identical; an unsigned rebuild removes the stale one', async () => {
    const copy = await copyProject('examples/hello');
    const sig = join(copy, 'dist/plugins/builder.lock.json.sig');
    expect((await cli(copy, ['build', '--sign-key', keys.key])).code).toBe(0);
    const first = await readFile(sig, 'utf8');
    const unchanged = await cli(copy, ['build', '--sign-key', keys.key, '--json']);
    expect(JSON.parse(unchanged.stdout)).toMatchObject({ outcome: 'built', signature: { keyId: keys.keyId } });
    expect(await readFile(sig, 'utf8')).toBe(first);
    await appendFile(join(copy, 'plugins/greet/greet.c'), '\nint Extra(void) { return 1; }\n');
    const unsigned = await cli(copy, ['build']);
    expect(unsigned.code, unsigned.stderr).toBe(0);
    expect(unsigned.stderr).toContain('removed');
    await expect(stat(sig)).rejects.toThrow(/ENOENT/);
    const check = await cli(copy, ['build', '--check', '--sign-key', keys.key]);
    expect(check.code).toBe(2);
    const badKey = await cli(copy, ['build', '--sign-key', keys.pub]);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('not a PEM private key');
    await rm(copy, { recursive: true, force: true });
  });

  it('the image runs the service as a non-root user and refuses to listen on 0.0.0.0 without a token', async () => {
    const refused = await start(plugins, { mode: 'image-default', waitHealthy: false });
    const { StatusCode } = (await refused.container.wait()) as { StatusCode: number };
    expect(StatusCode).toBe(2);
    expect(await refused.logs()).toContain('needs a bearer token');

    const host = await start(plugins, { mode: 'image-default', env: [`BUILDER_HOST_TOKEN=${TOKEN}`], trust: { 'ci.pub': await readFile(keys.pub, 'utf8') } });
    const top = (await host.container.top()) as { Titles: string[]; Processes: string[][] };
    const uid = top.Processes[0]?.[top.Titles.indexOf('UID')];
    expect(uid).toBe('10001');
    expect((await host.get('/healthz')).body).toMatchObject({ status: 'ok', trust: 'signed', lockfile: 'accepted' });
    expect((await host.get('/plugins')).status).toBe(401);
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] })).status).toBe(401);
    expect((await host.post('/plugins/greet/call/Add', { args: [1, 2] }, { authorization: 'Bearer wrong-token-wrong-token' })).status).toBe(401);
    expect(await host.post('/plugins/greet/call/Add', { args: [1, 2] }, auth)).toEqual({ status: 200, body: { result: 3 } });
    const list = await host.get('/plugins', auth);
    expect(list.body).toMatchObject({ trust: 'signed', lockfile: { status: 'accepted', signedBy: [keys.keyId] } });
    // The service user cannot write what decides trust.
    const write = await host.exec(['sh', '-c', 'touch /app/trust/x.pub || touch /app/plugins/x.so'], '10001');
    expect(write.exitCode).not.toBe(0);
  });

  it('the attack: a rewritten .so and lockfile entry without the key is refused whole; the signed version keeps serving', async () => {
    const trust = ['--trust-dir', '/app/trust'];
    const host = await start(plugins, { args: trust, trust: { 'ci.pub': await readFile(keys.pub, 'utf8') } });
    expect((await host.get('/healthz')).body.trust).toBe('signed');
    expect(await host.post('/plugins/greet/call/Add', { args: [1, 2] })).toEqual({ status: 200, body: { result: 3 } });

    // The attacker builds their own greet (v2: Add adds 1000) and rewrites the lockfile entry.
    const v2 = await copyProject('test/fixtures/greet-v2');
    expect((await cli(v2, ['build', '--no-prove'])).code).toBe(0);
    const lock = parseLockfile(await readFile(join(plugins, 'builder.lock.json'), 'utf8'));
    const evil = parseLockfile(await readFile(join(v2, 'dist/plugins/builder.lock.json'), 'utf8'));
    const staged = await mkdtemp(join(tmpdir(), 'pb-attack-'));
    await cp(join(v2, 'dist/plugins/libgreet.so'), join(staged, 'libgreet.so'));
    await cp(join(plugins, 'libshout.so'), join(staged, 'libshout.so'));
    await writeFile(join(staged, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: { ...lock.plugins, greet: evil.plugins.greet! } }));
    await host.deploy(staged);
    const reload = await host.put('/plugins/reload');
    expect(reload.status).toBe(409);
    expect(reload.body).toMatchObject({ code: 'BAD_SIGNATURE' });
    expect(await host.post('/plugins/greet/call/Add', { args: [1, 2] })).toEqual({ status: 200, body: { result: 3 } });

    // Re-signed with the attacker's own key: still refused.
    const resigned = await cli(staged, ['sign', '--key', attacker.key, '--dir', staged]);
    expect(resigned.code, resigned.stderr).toBe(0);
    await host.deploy(staged, ['builder.lock.json.sig']);
    expect((await host.put('/plugins/reload')).body).toMatchObject({ code: 'BAD_SIGNATURE' });
    // The signature removed: unsigned, refused.
    await host.exec(['rm', '/app/plugins/builder.lock.json.sig']);
    expect((await host.put('/plugins/reload')).body).toMatchObject({ code: 'UNSIGNED_LOCKFILE' });
    expect(await host.post('/plugins/greet/call/Add', { args: [1, 2] })).toEqual({ status: 200, body: { result: 3 } });
    expect(await host.logs()).not.toContain('loaded greet 2.0.0');

    // Rotation: the attacker's key added to the trust directory (by whoever owns it) is accepted.
    const rotated = await start(staged, { args: trust, trust: { 'ci.pub': await readFile(keys.pub, 'utf8'), 'next.pub': await readFile(attacker.pub, 'utf8') } });
    const accepted = await rotated.put('/plugins/reload');
    expect(accepted.status, JSON.stringify(accepted.body)).toBe(200);
    expect(await rotated.post('/plugins/greet/call/Add', { args: [1, 2] })).toEqual({ status: 200, body: { result: 1003 } });
  });

  it('hostile plugins: a writable-buffer manifest is refused, 64-bit results are JSON, "constructor" is just a name', async () => {
    const host = await start(join(hostile, 'dist/plugins'));
    const { body } = await host.get('/plugins');
    const byName = new Map(body.plugins?.map((p) => [p.name, p]));
    expect(byName.get('fill')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(byName.get('fill')?.reason).toContain('non-const char *');
    expect((await host.post('/plugins/fill/call/Fill', { args: ['', 10_000_000] })).status).toBe(404);
    // Functions a plugin does not define itself (libc's getpid, system) are not its functions.
    expect(byName.get('borrow')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect((await host.post('/plugins/borrow/call/system', { args: ['id'] })).status).toBe(404);
    // Refused after dlopen, its thread still running: the host stays up.
    expect(byName.get('threaded')).toMatchObject({ status: 'rejected', code: 'BAD_MANIFEST' });
    expect(await host.post('/plugins/wide/call/Max', { args: [] })).toEqual({ status: 200, body: { result: '9223372036854775807' } });
    expect(await host.post('/plugins/wide/call/Umax', { args: [] })).toEqual({ status: 200, body: { result: '18446744073709551615' } });
    expect(await host.post('/plugins/wide/call/Twice', { args: ['4611686018427387903'] })).toEqual({ status: 200, body: { result: '9223372036854775806' } });
    expect(await host.post('/plugins/wide/call/Twice', { args: [21] })).toEqual({ status: 200, body: { result: 42 } });
    expect((await host.post('/plugins/wide/call/Twice', { args: ['9223372036854775808'] })).status).toBe(400);
    expect(await host.post('/plugins/wide/call/Half', { args: [3] })).toEqual({ status: 200, body: { result: 1.5 } });
    expect(await host.post('/plugins/wide/call/Neg', { args: [false] })).toEqual({ status: 200, body: { result: true } });
    expect(await host.post('/plugins/wide/call/Len', { args: ['héllo'] })).toEqual({ status: 200, body: { result: 6 } });
    expect(await host.post('/plugins/constructor/call/Seven', { args: [] })).toEqual({ status: 200, body: { result: 7 } });
    expect((await host.post('/plugins/toString/call/Seven', { args: [] })).status).toBe(404);
    // constructor removed from the lockfile: it stops answering.
    const lock = parseLockfile(await readFile(join(hostile, 'dist/plugins/builder.lock.json'), 'utf8'));
    const { constructor: _, ...rest } = lock.plugins;
    const staged = await mkdtemp(join(tmpdir(), 'pb-hostile-'));
    await writeFile(join(staged, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: rest }));
    await host.deploy(staged);
    expect((await host.put('/plugins/reload')).status).toBe(200);
    expect((await host.post('/plugins/constructor/call/Seven', { args: [] })).status).toBe(404);
    expect((await host.get('/healthz')).status).toBe(200);
  });

  it('special files named by the lockfile (FIFO, symlink to /dev/zero, sparse 1 GiB) are refused at once, without growing the process', async () => {
    const host = await start(plugins);
    const lock = parseLockfile(await readFile(join(plugins, 'builder.lock.json'), 'utf8'));
    const greet = lock.plugins.greet!;
    await host.exec(['sh', '-c', 'cd /app/plugins && mkfifo libfifo.so && ln -s /dev/zero libzero.so && truncate -s 1G libhuge.so']);
    const entries = { ...lock.plugins, fifo: { ...greet, file: 'libfifo.so' }, zero: { ...greet, file: 'libzero.so' }, huge: { ...greet, file: 'libhuge.so' } };
    const staged = await mkdtemp(join(tmpdir(), 'pb-special-'));
    await writeFile(join(staged, 'builder.lock.json'), serializeLockfile({ ...lock, plugins: entries }));
    await host.deploy(staged);
    const started = performance.now();
    const [first, second] = [await host.put('/plugins/reload'), await host.put('/plugins/reload')];
    expect(performance.now() - started).toBeLessThan(10_000);
    for (const reload of [first, second]) {
      const codes = Object.fromEntries(reload.body.plugins!.map((p) => [p.name, p.code ?? p.status]));
      expect(codes).toEqual({ fifo: 'NOT_A_REGULAR_FILE', greet: 'loaded', huge: 'SIZE_MISMATCH', shout: 'loaded', zero: 'NOT_A_REGULAR_FILE' });
    }
    const rss = await host.exec(['sh', '-c', "grep VmRSS /proc/1/status | tr -s ' ' | cut -d' ' -f2"]);
    expect(Number(rss.output.trim())).toBeLessThan(300 * 1024); // kB
    // /plugins re-checks the deployed files: a deleted and a rewritten .so are reported.
    await host.exec(['sh', '-c', 'rm /app/plugins/libshout.so && printf x >> /app/plugins/libgreet.so']);
    const list = await host.get('/plugins');
    const onDisk = Object.fromEntries(list.body.plugins!.filter((p) => p.status === 'loaded').map((p) => [p.name, p.onDisk]));
    expect(onDisk).toEqual({ greet: 'changed', shout: 'missing' });
    expect(await host.post('/plugins/greet/call/Add', { args: [1, 2] })).toEqual({ status: 200, body: { result: 3 } });
  });

  it('docker stop with a stalled client in flight: exits 0 within the grace period, not by SIGKILL', async () => {
    const host = await start(plugins);
    const { connect } = await import('node:net');
    const socket = connect({ host: '127.0.0.1', port: host.port });
    await new Promise((r) => socket.once('connect', r));
    socket.write('POST /plugins/greet/call/Add HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"args":');
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    await host.container.stop({ t: 10 });
    const seconds = (performance.now() - started) / 1000;
    socket.destroy();
    const state = await host.container.inspect();
    expect(state.State.ExitCode).toBe(0);
    expect(seconds).toBeLessThan(4);
    expect(await host.logs()).toContain('SIGTERM: shutting down');
  });

  it('fuzz against the container: hostile HTTP never gets a 5xx and never takes the service down', async () => {
    const host = await start(plugins);
    let answered = 0;
    await fc.assert(
      fc.asyncProperty(hostileRequest, async ({ bytes, framed }) => {
        const answer = await sendRaw(host.port, bytes, 3000, '127.0.0.1', !framed);
        if (answer.statuses.length > 0) answered++;
        for (const status of answer.statuses) expect(status, bytes.toString('latin1').slice(0, 300)).toBeLessThan(500);
      }),
      { numRuns: 1000 },
    );
    expect(answered).toBeGreaterThan(900);
    expect((await host.container.inspect()).State.Running).toBe(true);
    expect(await host.post('/plugins/greet/call/Add', { args: [20, 22] })).toEqual({ status: 200, body: { result: 42 } });
    expect(await host.post('/plugins/shout/call/Shout', { args: ['ok'] })).toEqual({ status: 200, body: { result: 'OK!' } });
    expect(await host.logs()).not.toContain('BUG');
  }, 300_000);
});
