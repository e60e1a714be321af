import { readFile } from 'node:fs/promises';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { followingSymlinks } from '../../src/env/file-source.js';
import { fingerprintHash } from '../../src/env/fingerprint.js';
import { probeEnvironment } from '../../src/env/probe-environment.js';
import { parseLockfile, serializeLockfile } from '../../src/lock/lockfile.js';
import { generateSigningKeyPair, parseSigningKey, parseTrustedKey } from '../../src/trust/keys.js';
import { checkArtifactsSigned, signLockfile, verifyLockfileSignature } from '../../src/trust/lockfile-signature.js';
import {
  BASE_BOOKWORM, BASE_TRIXIE, GO_HOST_BOOKWORM, GO_HOST_MUSL, GO_HOST_NOTRIM, GO_HOST_NOTRIM_ELSEWHERE, GO_HOST_SHARED11, GO_HOST_TRIXIE,
  HOST_BOOKWORM, HOST_MUSL, HOST_NOZLIB, HOST_TRIXIE, requireDocker, skipDocker,
} from '../helpers/docker.js';
import { type FakeTree, fakeElf, memoryRoot } from '../helpers/fake-root.js';
import { lockFor } from '../helpers/fake-plugins.js';
import { GoOracle, goTool, inGoDev } from '../helpers/go-tools.js';
import { runContainer, runWithFile } from '../helpers/images.js';
import { cli } from '../helpers/project.js';

interface OracleAnswer {
  ok: boolean;
  code?: string;
  error?: string;
  hash?: string;
  fingerprint?: unknown;
  plugins?: Record<string, { Kind: string; File: string; Sha256: string; Size: number; GoVersion: string }>;
  signedBy?: string[];
}

const b64 = (data: string | Buffer) => Buffer.from(data).toString('base64');

describe.skipIf(skipDocker)('pluginhost, the Go host module (Go 1.19, real engine)', () => {
  let oracle: GoOracle;

  beforeAll(async () => {
    await requireDocker();
    oracle = await GoOracle.start();
  }, 300_000);
  afterAll(async () => oracle?.stop());

  it('go vet and go test pass (FIFO, symlink, swapped bytes, sizes, Go version, kinds, environment, lockfile limits, HTTP routes, concurrent reloads)', async () => {
    const run = await inGoDev('test -z "$(gofmt -l .)" || { gofmt -l .; exit 1; }; CGO_ENABLED=1 go vet ./... && CGO_ENABLED=1 go test -count=1 ./... 2>&1');
    expect(run.output).toMatch(/^ok\s+github\.com\/plugin-builder\/pluginhost\s/m);
    expect(run.exitCode, run.output).toBe(0);
  }, 300_000);

  const plainImages = [HOST_BOOKWORM, HOST_TRIXIE, HOST_MUSL, HOST_NOZLIB, BASE_BOOKWORM, BASE_TRIXIE];
  const goHostImages = [GO_HOST_BOOKWORM, GO_HOST_SHARED11, GO_HOST_TRIXIE, GO_HOST_NOTRIM, GO_HOST_NOTRIM_ELSEWHERE, GO_HOST_MUSL];

  it.each(plainImages)('the Go fingerprint of %s, computed inside it, hashes like `builder env --image`', async (image) => {
    const tool = await readFile(await goTool('pluginhost-env'));
    const live = await runWithFile(image, { path: '/pluginhost-env', data: tool, mode: 0o755 }, ['/pluginhost-env']);
    expect(live.exitCode, live.output).toBe(0);
    const env = await cli(process.cwd(), ['env', '--image', image, '--json']);
    expect(env.code, env.stderr).toBe(0);
    const probed = JSON.parse(env.stdout) as { fingerprint: unknown; fingerprintHash: string };
    const inside = JSON.parse(live.output) as { fingerprint: unknown; fingerprintHash: string };
    expect(inside.fingerprint).toEqual(probed.fingerprint);
    expect(inside.fingerprintHash).toBe(probed.fingerprintHash);
  }, 120_000);

  it.each(goHostImages)('the Go host in %s computes its own fingerprint (with its Go part) as `builder env --image --binary` does', async (image) => {
    const live = await runContainer(image, ['-print-environment']);
    expect(live.exitCode, live.output).toBe(0);
    const env = await cli(process.cwd(), ['env', '--image', image, '--binary', '/app/gohost', '--json']);
    expect(env.code, env.stderr).toBe(0);
    const probed = JSON.parse(env.stdout) as { fingerprint: { go?: unknown }; fingerprintHash: string };
    const inside = JSON.parse(live.output) as { fingerprint: unknown; fingerprintHash: string };
    expect(probed.fingerprint.go).toBeDefined();
    expect(inside.fingerprint).toEqual(probed.fingerprint);
    expect(inside.fingerprintHash).toBe(probed.fingerprintHash);
  }, 120_000);

  describe('differential fuzzing: the Go parsers answer as the TypeScript ones (fast-check)', () => {
    const text = fc.oneof(
      fc.string({ unit: 'grapheme-composite', maxLength: 12 }),
      fc.constantFrom('', '"', "'", '\\', '\r', '\u2028', '\uFEFF', ' ', '\t', '=', '\n', '\\"', '$', '`'),
      fc.string({ unit: 'binary', maxLength: 8 }),
    );
    const osRelease = fc.array(
      fc.oneof(
        fc.tuple(fc.constantFrom('ID', 'VERSION_ID', 'id', 'ID ', ' ID', 'NAME'), fc.array(text, { maxLength: 4 })).map(([k, v]) => `${k}=${v.join('')}`),
        text,
      ),
      { maxLength: 6 },
    ).map((lines) => lines.join(fc.sample(fc.constantFrom('\n', '\r\n'), 1)[0] as string));
    const bytesOf = (s: string) => (Math.random() < 0.2 ? Buffer.concat([Buffer.from(s), Buffer.from([0xe2, 0x82])]) : Buffer.from(s));
    const version = fc.tuple(fc.nat(40), fc.nat(40), fc.option(fc.nat(9))).map(([a, b, c]) => `${a}.${b}${c === null ? '' : `.${c}`}`);
    const libc = fc.oneof(
      fc.tuple(fc.constantFrom('/lib/x86_64-linux-gnu', '/usr/lib', '/lib64', '/usr/lib/aarch64-linux-gnu'), version, fc.constantFrom(62, 183, 3, 999)).map(
        ([dir, v, machine]): FakeTree => ({ [`${dir}/libc.so.6`]: fakeElf(`GNU C Library stable release version ${v}.\n`, machine) }),
      ),
      fc.tuple(fc.constantFrom('x86_64', 'aarch64'), version, fc.constantFrom('apk', 'dpkg', 'loader', 'none')).map(([arch, v, where]): FakeTree => ({
        [`/lib/ld-musl-${arch}.so.1`]: fakeElf(where === 'loader' ? `\0${v}\0 musl libc (${arch})\0` : 'musl libc'),
        ...(where === 'apk' ? { '/lib/apk/db/installed': `P:musl\nV:${v}-r0\n` } : {}),
        ...(where === 'dpkg' ? { '/var/lib/dpkg/status': `Package: zlib\nVersion: 1\n\nPackage: musl\nStatus: install ok\nVersion: 1:${v}-1\n` } : {}),
      })),
      fc.constant({} as FakeTree),
    );

    it('fingerprints of generated root filesystems: both fail, or both give the same fingerprint and hash', async () => {
      await fc.assert(
        fc.asyncProperty(osRelease, fc.constantFrom('/etc/os-release', '/usr/lib/os-release', 'none'), libc, async (release, where, lib) => {
          const tree: FakeTree = { ...lib, ...(where === 'none' ? {} : { [where]: bytesOf(release) }) };
          const ts = await probeEnvironment(followingSymlinks(memoryRoot(tree))).then(
            (f) => ({ ok: true as const, f, hash: fingerprintHash(f) }),
            (err: Error) => ({ ok: false as const, error: err.message }),
          );
          const files = Object.fromEntries(Object.entries(tree).map(([p, d]) => [p, b64(d as Buffer | string)]));
          const go = await oracle.ask<OracleAnswer>({ op: 'fingerprint', files });
          expect(go.ok, `${JSON.stringify(tree)}\nTS: ${JSON.stringify(ts)}\nGo: ${JSON.stringify(go)}`).toBe(ts.ok);
          if (ts.ok) {
            expect(go.fingerprint).toEqual(ts.f);
            expect(go.hash).toBe(ts.hash);
          }
        }),
        { numRuns: 400 },
      );
    }, 120_000);

    const lock = lockFor({ 'libgreet.so': 'G', 'libshout.so': 'S' });
    const lockText = serializeLockfile({ ...lock, host: { ...lock.host, binary: '/app/gohost', fingerprint: { ...lock.host.fingerprint, go: { version: 'go1.19.8', settings: { CGO_ENABLED: '1' }, deps: { 'example.com/x': 'v1.0.0' } } } } });
    const paths = (value: unknown, prefix: string[] = []): string[][] =>
      value !== null && typeof value === 'object'
        ? Object.entries(value).flatMap(([k, v]) => [[...prefix, k], ...paths(v, [...prefix, k])])
        : [];
    const leafPaths = paths(JSON.parse(lockText)).filter((p) => p[0] !== 'builder');

    it('lockfiles with each field replaced, removed or doubled in another case: Go accepts exactly what TypeScript accepts (every combination)', async () => {
      const values: unknown[] = [null, 1, -1, -0, 1.5, 2 ** 53, 2 ** 53 - 1, '__1e400__', '', 'x', 'SHA256', [], {}, { a: null }, { a: 1 }, true, 'sha256:' + '0'.repeat(64), '0'.repeat(64), 'glibc', 'a.so', '__proto__'];
      let accepted = 0;
      let refused = 0;
      for (const path of leafPaths) {
        for (const how of ['set', 'delete', 'case'] as const) {
          for (const value of how === 'delete' ? [undefined] : values) {
            const doc = JSON.parse(lockText) as Record<string, unknown>;
            let parent = doc as Record<string, unknown>;
            for (const key of path.slice(0, -1)) parent = parent[key] as Record<string, unknown>;
            const key = path.at(-1) as string;
            if (how === 'set') parent[key] = value;
            else if (how === 'delete') delete parent[key];
            else parent[key.toUpperCase() === key ? key.toLowerCase() : key.toUpperCase()] = value;
            const text = JSON.stringify(doc).replace('"__1e400__"', '1e400');
            let ts: ReturnType<typeof parseLockfile> | null = null;
            try {
              ts = parseLockfile(text);
            } catch {
              ts = null;
            }
            const go = await oracle.ask<OracleAnswer>({ op: 'lockfile', text: b64(text) });
            expect(go.ok, `${path.join('.')} ${how} ${JSON.stringify(value)}: Go ${go.error ?? 'accepted'}, TS ${ts ? 'accepted' : 'refused'}`).toBe(ts !== null);
            if (ts && go.plugins) {
              for (const [name, entry] of Object.entries(ts.plugins)) {
                expect(go.plugins[name]).toMatchObject({ Kind: entry.kind, File: entry.file, Sha256: entry.sha256, Size: entry.size, GoVersion: entry.goVersion ?? '' });
              }
              expect(Object.keys(go.plugins).sort()).toEqual(Object.keys(ts.plugins).sort());
            }
            if (ts) accepted++;
            else refused++;
          }
        }
      }
      // Both verdicts occur many times: the comparison is not vacuous.
      expect(accepted).toBeGreaterThan(100);
      expect(refused).toBeGreaterThan(100);
    }, 120_000);

    it('signatures: verified by the same rules (DSSE, in-toto subjects, Ed25519) — mutated envelopes and lockfiles give the same verdict', async () => {
      const pair = generateSigningKeyPair();
      const other = generateSigningKeyPair();
      const key = parseSigningKey(pair.privatePem, 'k');
      const otherKey = parseSigningKey(other.privatePem, 'o');
      const parsed = parseLockfile(lockText);
      const envelope = signLockfile(parsed, lockText, key, '1.0.0');
      const byOther = signLockfile(parsed, lockText, otherKey, '1.0.0');
      const mutate = fc.oneof(
        fc.constant((e: string, l: string) => [e, l]),
        fc.nat().map((i) => (e: string, l: string) => [e, l.slice(0, i % l.length) + ' ' + l.slice(i % l.length)]),
        fc.nat().map((i) => (e: string, l: string) => {
          const b = Buffer.from(e);
          b[i % b.length] = (b[i % b.length] as number) ^ 1;
          return [b.toString('latin1'), l];
        }),
        fc.constantFrom(
          (e: string, l: string) => [byOther, l],
          (e: string, l: string) => [e.replace(/"keyid": "[0-9a-f]+"/, '"keyid": ""'), l],
          (e: string, l: string) => [e.replace(/"sig": "([^"]+)"/, (_m, s: string) => `"sig": "${Buffer.from(s, 'base64').toString('base64url')}"`), l],
          (e: string, l: string) => [e.replace(/"sig": "([^"]+)"/, (_m, s: string) => `"sig": "${s.slice(0, 20)}\\n${s.slice(20)}"`), l],
          (e: string, l: string) => [e.replace(/"payloadType": "[^"]+"/, '"payloadType": "application/json"'), l],
          (e: string, l: string) => [e.replace(/"payload": "([^"]+)"/, (_m, s: string) => `"payload": "${s.replace(/=+$/, '')}"`), l],
          (e: string, l: string) => [JSON.stringify({ ...JSON.parse(e), signatures: [...JSON.parse(e).signatures, ...JSON.parse(byOther).signatures] }), l],
        ),
      );
      await fc.assert(
        fc.asyncProperty(mutate, fc.constantFrom('own', 'other', 'both'), async (change, trust) => {
          const [env, lockBytes] = change(envelope, lockText) as [string, string];
          const keys = trust === 'own' ? [pair.publicPem] : trust === 'other' ? [other.publicPem] : [pair.publicPem, other.publicPem];
          let ts: string[] | null;
          try {
            const verdict = verifyLockfileSignature(Buffer.from(lockBytes), env, keys.map((k, i) => parseTrustedKey(k, `k${i}`)));
            checkArtifactsSigned(parseLockfile(lockBytes), verdict.statement);
            ts = verdict.keyIds;
          } catch {
            ts = null;
          }
          const go = await oracle.ask<OracleAnswer>({ op: 'verify', lockfile: b64(lockBytes), envelope: b64(Buffer.from(env, 'latin1')), keys });
          expect(go.ok, `trust ${trust}: Go ${go.error ?? 'accepted'}, TS ${ts ? 'accepted' : 'refused'}`).toBe(ts !== null);
          if (ts) expect(go.signedBy).toEqual(ts);
        }),
        { numRuns: 300 },
      );
    }, 120_000);
  });
});
