import { describe, expect, it } from 'vitest';
import type { RootFileSource } from '../../../src/env/file-source.js';
import { resolveLoadingProgram } from '../../../src/verify/loading-program.js';

const ELF = Buffer.from('\x7fELF....');
const root = (files: Record<string, string | Buffer>): RootFileSource => ({ readFile: async (p) => (p in files ? Buffer.from(files[p] as string) : null) });
const PATH = ['PATH=/usr/local/bin:/usr/bin:/bin'];

describe('resolveLoadingProgram', () => {
  it('--loader-program, then host.binary, then the image Entrypoint, then its Cmd, resolved on the image PATH', async () => {
    const files = root({ '/usr/bin/node': ELF, '/usr/local/bin/dlopen-check': ELF, '/app/gohost': ELF });
    const image = { env: PATH, entrypoint: [] as string[], cmd: ['node', '/app/main.js'] };
    expect(await resolveLoadingProgram(files, image, { override: '/x', hostBinary: '/app/gohost' })).toEqual({ path: '/x', how: '--loader-program' });
    expect(await resolveLoadingProgram(files, image, { hostBinary: '/app/gohost' })).toEqual({ path: '/app/gohost', how: 'host.binary' });
    expect(await resolveLoadingProgram(files, image, {})).toEqual({ path: '/usr/bin/node', how: 'image cmd', script: '/app/main.js' });
    expect(await resolveLoadingProgram(files, { ...image, entrypoint: ['dlopen-check'] }, {})).toEqual({ path: '/usr/local/bin/dlopen-check', how: 'image entrypoint' });
  });

  it('looks through `sh -c "exec …"` and #! interpreters (#!/usr/bin/env node) to the ELF that runs', async () => {
    const files = root({ '/usr/bin/node': ELF, '/bin/sh': ELF, '/app/start': '#!/usr/bin/env node\nrequire("x")\n', '/usr/bin/env': ELF });
    expect(await resolveLoadingProgram(files, { env: PATH, entrypoint: [], cmd: ['/bin/sh', '-c', 'FOO=1 exec node /app/main.js'] }, {})).toEqual({ path: '/usr/bin/node', how: 'image cmd', script: '/app/main.js' });
    expect(await resolveLoadingProgram(files, { env: PATH, entrypoint: ['/app/start'], cmd: [] }, {})).toEqual({ path: '/usr/bin/node', how: 'image entrypoint', script: '/app/start' });
    // A relative script is the image's WorkingDir's; options before it are skipped.
    expect(await resolveLoadingProgram(files, { env: PATH, entrypoint: [], cmd: ['node', '--max-old-space-size=64', 'dist/main.js'], workingDir: '/srv' }, {})).toMatchObject({ script: '/srv/dist/main.js' });
  });

  it('nothing to run, or not found on PATH: no program (verify then says so)', async () => {
    expect(await resolveLoadingProgram(root({}), { env: PATH, entrypoint: [], cmd: [] }, {})).toBeNull();
    expect(await resolveLoadingProgram(root({}), { env: PATH, entrypoint: [], cmd: ['missing'] }, {})).toBeNull();
  });
});

describe("static TLS that objects dlopen()ed before the plugin took through TLS descriptors (glibc TRY_STATIC_TLS)", async () => {
  const { staticTlsShortfall } = await import('../../../src/verify/static-tls.js');
  const koffi = { memsz: 401, align: 32, firstByteOffset: 0 };
  const ie = (memsz: number) => [{ path: 'the plugin', block: { memsz, align: 1, firstByteOffset: 0 } }];
  it('aarch64: an earlier 401-byte block within the optional 512 bytes takes its place first; one beyond the optional budget stays dynamic', () => {
    const base = { machine: 'aarch64', withRseq: false, startup: [], surplus: 1664 };
    expect(staticTlsShortfall({ ...base, wanted: ie(1600) })).toBe('fits');
    expect(staticTlsShortfall({ ...base, earlierOptional: [koffi], wanted: ie(1600) })).toMatchObject({ path: 'the plugin', needs: 1600 });
    expect(staticTlsShortfall({ ...base, earlierOptional: [koffi], wanted: ie(1200) })).toBe('fits');
    expect(staticTlsShortfall({ ...base, earlierOptional: [koffi], optional: 256, wanted: ie(1600) })).toBe('fits');
  });
});
