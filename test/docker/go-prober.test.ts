import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseLockfile } from '../../src/lock/lockfile.js';
import { requireDocker, skipDocker } from '../helpers/docker.js';
import { buildTestImage, runWithDir } from '../helpers/images.js';
import { cli } from '../helpers/project.js';

const IMAGE = 'plugin-builder/test-go-nopluginhost:bookworm';

// A Go host of its own that does not use pluginhost: plugin.Open on each argument, then call Hello.
const HOST_MAIN = `package main

import (
	"fmt"
	"os"
	"plugin"
)

func main() {
	for _, file := range os.Args[1:] {
		p, err := plugin.Open(file)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		hello, err := p.Lookup("Hello")
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(hello.(func() string)())
	}
}
`;

const DOCKERFILE = `FROM plugin-builder/go-dev:bookworm AS build
ENV CGO_ENABLED=1
COPY go.mod main.go /src/host/
WORKDIR /src/host
RUN go build -trimpath -o /out/host .
FROM plugin-builder/debian:bookworm
COPY --from=build /out/host /app/host
RUN mkdir -p /app/plugins
ENTRYPOINT ["/app/host"]
`;

async function goProject(plugins: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'pb-go-prober-'));
  for (const [name, source] of Object.entries(plugins)) {
    await mkdir(join(dir, 'plugins', name), { recursive: true });
    await writeFile(join(dir, 'plugins', name, 'go.mod'), `module example.com/${name}\n\ngo 1.19\n`);
    await writeFile(join(dir, 'plugins', name, 'main.go'), source);
  }
  await writeFile(join(dir, 'builder.config.json'), JSON.stringify({
    host: { image: IMAGE, binary: '/app/host' },
    plugins: Object.keys(plugins).map((name) => ({ name, kind: 'go-plugin', path: `plugins/${name}` })),
  }));
  return dir;
}

/**
 * A Go host without pluginhost has no canary entry: its plugins are proven by a plugin.Open
 * program built in the builder image with the host binary's Go release and settings.
 */
describe.skipIf(skipDocker)('the proof of a Go host that does not use pluginhost (real engine, real plugin.Open)', () => {
  const dirs: string[] = [];
  beforeAll(async () => {
    await requireDocker();
    await buildTestImage(IMAGE, DOCKERFILE, { 'go.mod': Buffer.from('module example.com/plainhost\n\ngo 1.19\n'), 'main.go': Buffer.from(HOST_MAIN) });
  }, 600_000);
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('proven by the Go prober, and the host itself loads it; a plugin whose init panics fails with the runtime\'s words', async () => {
    const dir = await goProject({ hello: 'package main\n\nfunc Hello() string { return "hello from a plugin" }\n' });
    dirs.push(dir);
    const run = await cli(dir, ['build']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect(run.stderr).toContain("/app/host does not use pluginhost: building the proof's Go prober with its Go release and settings");
    const lock = parseLockfile(await readFile(join(dir, 'builder.lock.json'), 'utf8'));
    expect(lock.plugins.hello!.proof).toEqual({ result: 'loaded', imageId: lock.host.imageId, program: 'go-prober: plugin.Open, built with the Go release and settings of /app/host' });
    const real = await runWithDir(IMAGE, join(dir, 'dist/plugins'), '/app/plugins', ['/app/plugins/libhello.so']);
    expect(real.output).toContain('hello from a plugin');

    const bad = await goProject({ panics: 'package main\n\nfunc init() { panic("boom at load") }\n\nfunc Hello() string { return "never" }\n' });
    dirs.push(bad);
    const refused = await cli(bad, ['build']);
    expect(refused.code).toBe(1);
    expect(refused.stdout).toMatch(/panics\s+go-plugin\s+failed.*the loading process exited with status 2 while loading it; it said: panic: boom at load/);
  }, 900_000);
});
