import { createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type ConfigFiles, contextDirName, EngineEndpointError, parseEngineHost, resolveEngineEndpoint } from '../../../src/docker/docker-host.js';
import { dockerodeOptions, unavailableFix } from '../../../src/docker/engine-connection.js';
import { checkHostKey } from '../../../src/docker/known-hosts.js';

/** An in-memory ~/.docker (and friends): path → contents. */
function filesOf(map: Record<string, string>): ConfigFiles & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    read(path) {
      reads.push(path);
      return Object.hasOwn(map, path) ? Buffer.from(map[path]!) : null;
    },
  };
}

const meta = (name: string, host: string, skip = false) => JSON.stringify({ Name: name, Metadata: {}, Endpoints: { docker: { Host: host, SkipTLSVerify: skip } } });
const ctxMeta = (dir: string, name: string) => `${dir}/contexts/meta/${contextDirName(name)}/meta.json`;

describe('the engine, found as the docker CLI finds it', () => {
  const store = {
    '/home/u/.docker/config.json': JSON.stringify({ auths: {}, currentContext: 'remote' }),
    [ctxMeta('/home/u/.docker', 'remote')]: meta('remote', 'ssh://ci@build.example:2222'),
    [ctxMeta('/home/u/.docker', 'other')]: meta('other', 'tcp://10.0.0.5:2376'),
    [`/home/u/.docker/contexts/tls/${contextDirName('other')}/docker/ca.pem`]: 'CA',
    [`/home/u/.docker/contexts/tls/${contextDirName('other')}/docker/cert.pem`]: 'CERT',
    [`/home/u/.docker/contexts/tls/${contextDirName('other')}/docker/key.pem`]: 'KEY',
  };

  it('the store keeps a context under the sha256 of its name (as `docker context create` wrote it on this machine)', () => {
    expect(contextDirName('pbtest')).toBe('54d0d7fc6814a03c07b827b72bd6b5fd52e11ee6ae5ebe7ffdaa9ea6d3927919');
  });

  it('precedence: --host, then DOCKER_HOST, then DOCKER_CONTEXT, then currentContext, then the default socket', () => {
    const files = filesOf(store);
    const env = { HOME: '/home/u' };
    expect(resolveEngineEndpoint(env, { host: 'unix:///run/x.sock' }, files)).toMatchObject({ source: '--host', endpoint: 'unix:///run/x.sock' });
    expect(resolveEngineEndpoint({ ...env, DOCKER_HOST: 'tcp://h:1234', DOCKER_CONTEXT: 'other' }, {}, files)).toMatchObject({ source: 'DOCKER_HOST', endpoint: 'tcp://h:1234' });
    expect(resolveEngineEndpoint({ ...env, DOCKER_CONTEXT: 'other' }, {}, files)).toMatchObject({
      source: 'docker context "other" (DOCKER_CONTEXT)',
      endpoint: 'tcp://10.0.0.5:2376',
      connection: { kind: 'tcp', tls: { verify: true, ca: Buffer.from('CA'), cert: Buffer.from('CERT'), key: Buffer.from('KEY') } },
    });
    expect(resolveEngineEndpoint(env, {}, files)).toMatchObject({
      source: 'docker context "remote" (currentContext in /home/u/.docker/config.json)',
      endpoint: 'ssh://ci@build.example:2222',
      connection: { kind: 'ssh', host: 'build.example', port: 2222, username: 'ci' },
    });
    expect(resolveEngineEndpoint({ ...env, DOCKER_CONTEXT: 'default' }, {}, files)).toMatchObject({ source: 'the default socket', endpoint: 'unix:///var/run/docker.sock' });
    expect(resolveEngineEndpoint({ DOCKER_CONFIG: '/nowhere' }, {}, files).endpoint).toBe('unix:///var/run/docker.sock');
  });

  it('DOCKER_TLS_VERIFY / DOCKER_TLS / DOCKER_CERT_PATH for a host given directly', () => {
    const files = filesOf({ '/certs/ca.pem': 'CA', '/certs/cert.pem': 'C', '/certs/key.pem': 'K', '/half/cert.pem': 'C' });
    expect(resolveEngineEndpoint({ DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/certs' }, {}, files)).toMatchObject({
      endpoint: 'tcp://h:2376',
      connection: { tls: { verify: true, ca: Buffer.from('CA'), cert: Buffer.from('C'), key: Buffer.from('K') } },
    });
    expect(resolveEngineEndpoint({ DOCKER_HOST: 'tcp://h', DOCKER_TLS: '1', DOCKER_CERT_PATH: '/none' }, {}, files).connection).toMatchObject({ tls: { verify: false } });
    expect(resolveEngineEndpoint({ DOCKER_HOST: 'tcp://h' }, {}, files)).toMatchObject({ endpoint: 'tcp://h:2375', connection: { tls: null } });
    expect(() => resolveEngineEndpoint({ DOCKER_HOST: 'tcp://h', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/none' }, {}, files)).toThrow(/DOCKER_TLS_VERIFY is set but \/none\/ca.pem does not exist/);
    expect(() => resolveEngineEndpoint({ DOCKER_HOST: 'tcp://h', DOCKER_TLS: '1', DOCKER_CERT_PATH: '/half' }, {}, files)).toThrow(/cert.pem but no key.pem/);
  });

  it('addresses: what the CLI accepts, and clear refusals for the rest', () => {
    expect(parseEngineHost('unix://', null).endpoint).toBe('unix:///var/run/docker.sock');
    expect(parseEngineHost('127.0.0.1:2375', null).endpoint).toBe('tcp://127.0.0.1:2375');
    expect(parseEngineHost('tcp://[::1]:2375', null)).toMatchObject({ endpoint: 'tcp://[::1]:2375', connection: { host: '::1' } });
    expect(parseEngineHost('ssh://build', null)).toMatchObject({ endpoint: 'ssh://build:22', connection: { kind: 'ssh', username: null, port: 22 } });
    expect(parseEngineHost('tcp://h:80', null).endpoint).toBe('tcp://h:80');
    for (const [value, problem] of [
      ['ftp://x', /unknown scheme ftp:\/\//],
      ['npipe:////./pipe/docker_engine', /npipe:\/\/ engines are not supported/],
      ['unix://relative.sock', /must be absolute/],
      ['ssh://u:secret@h', /password in the address is not supported/],
      ['tcp://h:2375/v1.41', /no path/],
      ['tcp://u@h:2375', /no user part/],
      ['tcp://h:0', /port 0/],
      ['tcp://h:99999', /not an engine address/],
      ['', /not an engine address/],
      ['tcp://h x', /not an engine address/],
      // Found by the fuzz below (seed 452238905): a lone % in the user part threw URIError.
      ['ssh://%@&', /user part is not valid percent-encoding/],
      ['ssh://a%zz@h', /user part is not valid percent-encoding/],
    ] as const) {
      expect(() => parseEngineHost(value, null), value).toThrow(problem);
    }
  });

  it('TLS asked for in the environment never turns into plaintext: http:// and https:// refused, a context without TLS files refused', () => {
    for (const host of ['http://h:2376', 'https://h:2376', 'HTTPS://h']) {
      expect(() => resolveEngineEndpoint({ DOCKER_HOST: host, DOCKER_TLS_VERIFY: '1' }, {}, filesOf({}))).toThrow(/is not an engine address \(the docker CLI refuses it too\)/);
    }
    const dir = '/home/u/.docker';
    const plain = filesOf({ [ctxMeta(dir, 'plain')]: meta('plain', 'tcp://h:2375') });
    expect(() => resolveEngineEndpoint({ HOME: '/home/u', DOCKER_CONTEXT: 'plain', DOCKER_TLS_VERIFY: '1' }, {}, plain)).toThrow(/DOCKER_TLS_VERIFY is set, but docker context "plain" .* reaches tcp:\/\/h:2375 without TLS/);
    expect(() => resolveEngineEndpoint({ HOME: '/home/u', DOCKER_CONTEXT: 'plain', DOCKER_TLS: '1' }, {}, plain)).toThrow(/DOCKER_TLS is set/);
    expect(resolveEngineEndpoint({ HOME: '/home/u', DOCKER_CONTEXT: 'plain' }, {}, plain).endpoint).toBe('tcp://h:2375');
    // A context with its own TLS files is TLS whatever the environment says.
    expect(resolveEngineEndpoint({ HOME: '/home/u', DOCKER_CONTEXT: 'other', DOCKER_TLS_VERIFY: '1' }, {}, filesOf(store)).connection).toMatchObject({ kind: 'tcp', tls: { verify: true } });
  });

  it('a broken or hostile config store is an error naming the file, never a crash or a guess', () => {
    const dir = '/home/u/.docker';
    const cases: Array<[Record<string, string>, Record<string, string>, RegExp]> = [
      [{ [`${dir}/config.json`]: '{not json' }, {}, /config.json: not valid JSON/],
      [{ [`${dir}/config.json`]: '[]' }, {}, /not a JSON object/],
      [{ [`${dir}/config.json`]: '{"currentContext": 7}' }, {}, /currentContext is not a string/],
      [{}, { DOCKER_CONTEXT: 'missing' }, /no such context/],
      [{ [ctxMeta(dir, 'x')]: meta('y', 'tcp://h:1') }, { DOCKER_CONTEXT: 'x' }, /names context "y", not "x"/],
      [{ [ctxMeta(dir, 'x')]: JSON.stringify({ Name: 'x', Endpoints: {} }) }, { DOCKER_CONTEXT: 'x' }, /has no docker endpoint/],
      [{ [ctxMeta(dir, 'x')]: meta('x', 'ftp://h') }, { DOCKER_CONTEXT: 'x' }, /unknown scheme/],
      [{ [ctxMeta(dir, '../../etc')]: meta('../../etc', 'tcp://h:1') }, { DOCKER_CONTEXT: '../../etc' }, /^$/],
    ];
    for (const [map, env, problem] of cases) {
      const run = () => resolveEngineEndpoint({ HOME: '/home/u', ...env }, {}, filesOf(map));
      if (problem.source === '^$') expect(run().endpoint).toBe('tcp://h:1');
      else expect(run).toThrow(problem);
    }
    // A context name is hashed, never used as a path: no traversal.
    const files = filesOf({});
    expect(() => resolveEngineEndpoint({ HOME: '/home/u', DOCKER_CONTEXT: '../../../etc/passwd' }, {}, files)).toThrow(EngineEndpointError);
    expect(files.reads.every((p) => p.startsWith('/home/u/.docker/contexts/meta/') && !p.includes('..'))).toBe(true);
  });

  it('fuzz: any DOCKER_HOST and any config store either resolve to a well-formed endpoint or throw EngineEndpointError', () => {
    const text = fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('tcp://', 'ssh://', 'unix://', 'http://', 'https://').chain((s) => fc.string({ maxLength: 30 }).map((t) => s + t)));
    const json = fc.oneof(fc.json(), text, fc.record({ Name: fc.oneof(fc.constant('c'), fc.json()), Endpoints: fc.oneof(fc.json(), fc.record({ docker: fc.record({ Host: fc.oneof(text, fc.json()), SkipTLSVerify: fc.json() }) })) }).map((v) => JSON.stringify(v)));
    fc.assert(
      fc.property(fc.option(text), fc.option(json), fc.option(json), (dockerHost, config, context) => {
        const dir = '/h/.docker';
        const files = filesOf({ ...(config !== null ? { [`${dir}/config.json`]: config } : {}), ...(context !== null ? { [ctxMeta(dir, 'c')]: context } : {}) });
        const env = { HOME: '/h', ...(dockerHost !== null ? { DOCKER_HOST: dockerHost } : { DOCKER_CONTEXT: 'c' }) };
        try {
          const endpoint = resolveEngineEndpoint(env, {}, files);
          expect(endpoint.endpoint).toMatch(/^(unix:\/\/\/|tcp:\/\/|ssh:\/\/)/);
          if (endpoint.connection.kind !== 'socket') expect(endpoint.connection.port).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(EngineEndpointError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('fix texts name the remedy for the kind of engine', () => {
    const none = { hostKey: null, identity: null };
    const at = (host: string, source = 'DOCKER_HOST') => ({ ...parseEngineHost(host, null), source });
    expect(unavailableFix(at('unix:///var/run/docker.sock', 'the default socket'), none)).toMatch(/Start the Docker engine whose socket is \/var\/run\/docker.sock.*ssh:\/\/USER@HOST.*docker context use/);
    expect(unavailableFix(at('tcp://h:2375'), none)).toMatch(/should not be plain tcp.*ssh:\/\/USER@HOST, or TLS/);
    expect(unavailableFix({ ...parseEngineHost('tcp://h', { verify: true }), source: 'DOCKER_HOST' }, none)).toMatch(/docker --tlsverify -H tcp:\/\/h:2376 version/);
    expect(unavailableFix(at('ssh://ci@b:2222'), { hostKey: { ok: false, reason: 'unknown', knownTypes: [] }, identity: null })).toMatch(/not in ~\/.ssh\/known_hosts.*ssh-keyscan -p 2222 b/);
    expect(unavailableFix(at('ssh://ci@b:2222'), { hostKey: { ok: false, reason: 'mismatch', knownTypes: ['ssh-ed25519'] }, identity: null })).toMatch(/may be someone in the middle.*ssh-keygen -R '\[b\]:2222'/);
    expect(unavailableFix(at('ssh://ci@b'), { hostKey: { ok: true }, identity: '/h/.ssh/id_ed25519' })).toMatch(/ssh -p 22 ci@b docker version.*tried \/h\/.ssh\/id_ed25519.*dial-stdio/);
    expect(unavailableFix(at('tcp://h:2375', 'docker context "x" (DOCKER_CONTEXT)'), none)).toContain('docker context inspect');
    expect(unavailableFix(at('unix:///var/run/docker.sock', 'the default socket'), none, 'EACCES')).toMatch(/is there but this user may not use it: add the user to the group that owns it/);
  });
});

describe('known_hosts', () => {
  const key = (seed: string) => Buffer.from(`ssh-ed25519-blob-${seed}`);
  const b64 = (seed: string) => key(seed).toString('base64');
  const hashed = (name: string) => {
    const salt = randomBytes(20);
    return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
  };

  it('matches plain, [host]:port, hashed, wildcard and negated entries; tells unknown from mismatch and revoked', () => {
    const text = [
      '# comment',
      `[127.0.0.1]:2222 ssh-ed25519 ${b64('a')}`,
      `${hashed('build.example')} ssh-ed25519 ${b64('b')}`,
      `*.ci.example,!evil.ci.example ssh-ed25519 ${b64('c')}`,
      `@revoked * ssh-ed25519 ${b64('stolen')}`,
      `@cert-authority * ssh-ed25519 ${b64('ca')}`,
      'garbage line',
    ].join('\n');
    expect(checkHostKey(text, '127.0.0.1', 2222, key('a'))).toEqual({ ok: true });
    expect(checkHostKey(text, '127.0.0.1', 22, key('a'))).toMatchObject({ ok: false, reason: 'unknown' });
    expect(checkHostKey(text, '127.0.0.1', 2222, key('x'))).toEqual({ ok: false, reason: 'mismatch', knownTypes: ['ssh-ed25519'] });
    expect(checkHostKey(text, 'build.example', 22, key('b'))).toEqual({ ok: true });
    expect(checkHostKey(text, 'BUILD.example', 22, key('b'))).toEqual({ ok: true });
    expect(checkHostKey(text, 'r1.ci.example', 22, key('c'))).toEqual({ ok: true });
    expect(checkHostKey(text, 'evil.ci.example', 22, key('c'))).toMatchObject({ ok: false, reason: 'unknown' });
    expect(checkHostKey(text, 'r1.ci.example', 22, key('stolen'))).toMatchObject({ ok: false, reason: 'revoked' });
    expect(checkHostKey(text, 'anything', 22, key('ca'))).toMatchObject({ ok: false, reason: 'unknown' });
  });

  it('fuzz: a key is accepted only when a line for that very host holds exactly those bytes', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('h1', 'h2', '[h1]:2222', '*', 'h?'), fc.constantFrom('a', 'b', 'c')), { maxLength: 5 }), fc.constantFrom('h1', 'h2'), fc.constantFrom(22, 2222), fc.constantFrom('a', 'b', 'c', 'd'), (lines, host, port, seed) => {
        const text = lines.map(([pattern, s]) => `${pattern} ssh-ed25519 ${b64(s)}`).join('\n');
        const name = port === 22 ? host : `[${host}]:${port}`;
        const matches = (pattern: string) => pattern === name || pattern === '*' || (pattern === 'h?' && /^h.$/.test(name));
        const expected = lines.some(([pattern, s]) => matches(pattern) && s === seed);
        expect(checkHostKey(text, host, port, key(seed)).ok).toBe(expected);
      }),
      { numRuns: 500 },
    );
  });
});

describe('dockerode options', () => {
  it('ssh: the identity file, the agent, and a host verifier that consults known_hosts', () => {
    const { privateKey } = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
    const files = filesOf({ '/h/.ssh/id_ed25519': privateKey, '/h/.ssh/known_hosts': `[b]:2222 ssh-ed25519 ${Buffer.from('K').toString('base64')}` });
    const refusal = { hostKey: null, identity: null } as Parameters<typeof dockerodeOptions>[3] & object;
    const options = dockerodeOptions({ ...parseEngineHost('ssh://ci@b:2222', null), source: 'DOCKER_HOST' }, { HOME: '/h', SSH_AUTH_SOCK: '/run/agent' }, files, refusal) as {
      protocol: string;
      username: string;
      sshOptions: { agent: string; privateKey: Buffer; hostVerifier: (k: Buffer) => boolean };
    };
    expect(options).toMatchObject({ protocol: 'ssh', username: 'ci', sshOptions: { agent: '/run/agent' } });
    expect(options.sshOptions.privateKey.toString()).toBe(privateKey);
    expect(options.sshOptions.hostVerifier(Buffer.from('K'))).toBe(true);
    expect(options.sshOptions.hostVerifier(Buffer.from('other'))).toBe(false);
    expect(refusal.hostKey).toMatchObject({ ok: false, reason: 'mismatch' });
    // A passphrase-protected key is left to the agent.
    const encrypted = generateKeyPairSync('ed25519', { privateKeyEncoding: { type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'p' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
    const withEncrypted = dockerodeOptions({ ...parseEngineHost('ssh://b', null), source: 'DOCKER_HOST' }, { HOME: '/h', USER: 'me' }, filesOf({ '/h/.ssh/id_ed25519': encrypted })) as { username: string; sshOptions: object };
    expect(withEncrypted.username).toBe('me');
    expect(withEncrypted.sshOptions).not.toHaveProperty('privateKey');
  });
});

describe('the config files on disk', () => {
  it('a FIFO, a directory or a huge file where config.json should be fails at once, naming it; an absent one is no context', async () => {
    const { mkdtemp, mkdir: mk, writeFile: write } = await import('node:fs/promises');
    const { execFileSync } = await import('node:child_process');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const { nodeConfigFiles } = await import('../../../src/docker/config-files.js');
    const home = await mkdtemp(join(tmpdir(), 'pb-docker-config-'));
    await mk(join(home, '.docker'));
    expect(resolveEngineEndpoint({ HOME: home }, {}, nodeConfigFiles).endpoint).toBe('unix:///var/run/docker.sock');
    execFileSync('mkfifo', [join(home, '.docker', 'config.json')]);
    const started = Date.now();
    expect(() => resolveEngineEndpoint({ HOME: home }, {}, nodeConfigFiles)).toThrow(/config.json: not a regular file/);
    expect(Date.now() - started).toBeLessThan(1000);
    const other = await mkdtemp(join(tmpdir(), 'pb-docker-config-'));
    await mk(join(other, 'config.json'));
    expect(() => resolveEngineEndpoint({ DOCKER_CONFIG: other }, {}, nodeConfigFiles)).toThrow(/config.json: (not a regular file|cannot be read)/);
    const big = await mkdtemp(join(tmpdir(), 'pb-docker-config-'));
    await write(join(big, 'config.json'), Buffer.alloc(2 * 1024 * 1024, 0x20));
    expect(() => resolveEngineEndpoint({ DOCKER_CONFIG: big }, {}, nodeConfigFiles)).toThrow(/a docker config file is at most/);
  });
});
