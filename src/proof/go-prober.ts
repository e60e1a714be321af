import { Readable } from 'node:stream';
import type { DockerEngine } from '../docker/engine.js';
import { managedLabels } from '../docker/engine.js';
import { BuilderError } from '../errors.js';
import { printable } from '../util/printable.js';

/**
 * The proof's loading program for a Go host that does not use pluginhost (so has no canary entry
 * of its own): a small program that plugin.Open()s each file, built in the builder image — with
 * the host binary's own Go release — and with the host's build settings (-trimpath, -race,
 * -gcflags, tags, GOAMD64 …), so the runtime and standard packages it shares with a plugin hash
 * as the host's do. It cannot share the host's own modules: a plugin's copy of a module the host
 * links at another version passes here; the build's module check (go-facts.ts) covers that.
 */
const SOURCE = `package main

import (
	"fmt"
	"os"
	"plugin"
	"strings"
)

func main() {
	nonce := os.Args[1]
	failed := 0
	for _, file := range os.Args[2:] {
		fmt.Printf("\\n%s loading %s\\n", nonce, file)
		if _, err := plugin.Open(file); err != nil {
			fmt.Printf("\\n%s failed %s %s\\n", nonce, file, strings.NewReplacer("\\n", " ", "\\r", " ").Replace(err.Error()))
			failed = 1
			continue
		}
		fmt.Printf("\\n%s loaded %s\\n", nonce, file)
	}
	fmt.Printf("\\n%s done\\n", nonce)
	os.Exit(failed)
}
`;

const MAX_PROBER_BYTES = 64 * 1024 * 1024;

export interface GoProberBuild {
  builderImageId: string;
  /** `go build` flags reproducing the host's settings (goHostFlags). */
  flags: readonly string[];
  /** The environment of a go-plugin build for this host (CGO_ENABLED, GOFLAGS tags, GOAMD64, CC …). */
  env: readonly string[];
}

const built = new Map<string, Buffer>();

/** The prober's bytes for these settings, built once per process. */
export async function buildGoProber(engine: DockerEngine, request: GoProberBuild): Promise<Buffer> {
  const key = JSON.stringify(request);
  const known = built.get(key);
  if (known) return known;
  const source = Buffer.from(SOURCE);
  const quoted = request.flags.map((f) => `'${f.replace(/'/g, `'\\''`)}'`).join(' ');
  const script = `set -e; mkdir -p /tmp/prober; head -c ${source.length} > /tmp/prober/main.go; cd /tmp/prober; go build ${quoted} -buildvcs=false -o /tmp/prober/go-prober main.go >&2; cat /tmp/prober/go-prober`;
  const container = await engine.createContainer({
    image: request.builderImageId,
    entrypoint: ['sh', '-c'],
    cmd: [script],
    env: ['HOME=/tmp', 'GOPATH=/tmp/go', 'GOCACHE=/tmp/go-cache', 'GOPROXY=off', 'GOTOOLCHAIN=local', ...request.env],
    labels: managedLabels('proof-prober'),
    stdin: true,
  });
  try {
    const run = await container.runPiped(Readable.from([source]), async (stdout) => {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of stdout as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_PROBER_BYTES) throw new Error(`the Go prober grew past ${MAX_PROBER_BYTES} bytes`);
        chunks.push(chunk);
      }
      return Buffer.concat(chunks);
    });
    if (run.exitCode !== 0 || !run.consumed || run.consumed.length === 0) {
      throw new BuilderError('PROOF_UNAVAILABLE', `The Go prober (plugin.Open with the host's Go settings) did not build in ${request.builderImageId.slice(0, 19)}: ${printable(run.output.slice(-2000))}`, {
        fix: 'Set host.loader to a command in the host image that loads one plugin, or build with --no-prove.',
      });
    }
    built.set(key, run.consumed);
    return run.consumed;
  } finally {
    await container.remove();
  }
}
