/**
 * Every error code the tool and its runtimes report. `error.code` in `--json`, in the host
 * runtimes' HTTP answers and in the Go pluginhost's `*Error` is public API: a code is added here
 * or it does not exist (BuilderError takes only these), and docs/errors.md is generated from this
 * table (`npm run docs:errors`; a test fails when it is stale). The Go module's sentinels
 * (go/pluginhost/errors.go) are the entries marked `go`, checked by a test.
 *
 * exit: the CLI's exit status — 1 the job ran and the answer is no, 2 the job could not run.
 * where: `cli` (the builder command), `node` (the Node host runtime and `builder host`), `go`
 * (the Go pluginhost module).
 */
export type ErrorPlace = 'cli' | 'node' | 'go';

export interface ErrorCodeInfo {
  meaning: string;
  exit: 1 | 2;
  /** When the exit status is not `exit` alone. */
  exitNote?: string;
  fix: string;
  where: readonly ErrorPlace[];
}

const CLI = ['cli'] as const;
const RUNTIMES = ['node', 'go'] as const;
const EVERYWHERE = ['cli', 'node', 'go'] as const;

export const ERROR_CODES = {
  // Configuration, options and project files
  CONFIG_INVALID: { meaning: 'builder.config.json does not match the schema; every offending field is listed.', exit: 2, fix: 'Correct the listed fields (`builder schema` prints the schema).', where: CLI },
  CONFIG_MISSING: { meaning: 'The command needs the project config and none was found.', exit: 2, fix: 'Run it in the project, or pass `-c FILE`.', where: CLI },
  SCHEMA_MISSING: { meaning: "The config's JSON Schema file cannot be read.", exit: 2, fix: 'Reinstall the package, or run `npm run build` in a checkout.', where: CLI },
  BAD_OPTION: { meaning: 'A command-line option has a value the command cannot use, or options that do not go together.', exit: 2, fix: 'Correct the option named in the message (`builder COMMAND --help`).', where: ['cli', 'node'] },
  BAD_USAGE: { meaning: 'Options were combined in a way the command does not support.', exit: 2, fix: 'See the example in the message and `builder COMMAND --help`.', where: CLI },
  BAD_IGNORE_FILE: { meaning: 'A `.builderignore` pattern cannot be parsed.', exit: 2, fix: 'Correct the pattern on the line named.', where: CLI },
  FILE_EXISTS: { meaning: '`builder init` would overwrite a file; nothing was written.', exit: 2, fix: 'Choose another directory or remove the file named.', where: CLI },
  KEY_EXISTS: { meaning: '`builder keygen` would overwrite a key.', exit: 2, fix: 'Choose another path or remove the old key first.', where: CLI },
  UNKNOWN_PLUGIN: { meaning: 'A plugin named by the caller (or a .so found on disk) is not in the config or the lockfile.', exit: 2, fix: 'Build it with `builder build` and deploy the new lockfile; check the name.', where: EVERYWHERE },
  OUTPUT_OUTSIDE_PROJECT: { meaning: 'outDir or the lockfile would be written outside the project directory.', exit: 2, fix: 'Point them inside the project.', where: CLI },
  WRITE_FAILED: { meaning: 'A file the tool had to write could not be written (the errno is named); nothing partial was left.', exit: 2, fix: 'Free space or fix permissions on the path named, then run again.', where: EVERYWHERE },
  // Sources
  NO_SOURCES: { meaning: "A plugin's directory has no source file of its kind.", exit: 2, fix: "Add the sources, or correct the plugin's path in the config.", where: CLI },
  SOURCE_MISSING: { meaning: "A plugin's path does not exist.", exit: 2, fix: "Correct the plugin's path.", where: CLI },
  SOURCE_OUTSIDE_PROJECT: { meaning: "A plugin's path (or a file in it) resolves outside the project.", exit: 2, fix: 'Keep plugin sources inside the project directory.', where: CLI },
  SOURCE_SYMLINK: { meaning: 'A source file is a symbolic link the build will not follow.', exit: 2, fix: 'Replace the link by the file, or list it in `.builderignore`.', where: CLI },
  SOURCE_NAME_NOT_UTF8: { meaning: 'A source file name is not valid UTF-8.', exit: 2, fix: 'Rename the file.', where: CLI },
  SOURCE_CHANGED: { meaning: 'A source file changed while the build was reading it.', exit: 2, fix: 'Build again once nothing is writing to the plugin directory.', where: CLI },
  // The engine and images
  DOCKER_UNAVAILABLE: { meaning: 'No Docker engine answers at the address in use.', exit: 2, fix: 'Start the engine or point DOCKER_HOST / --host at one (the message names how it was found).', where: CLI },
  ENGINE_ADDRESS_INVALID: { meaning: 'DOCKER_HOST, --host, DOCKER_CONTEXT or the docker config names no engine this tool can reach.', exit: 2, fix: 'Use unix://, tcp:// (TLS with DOCKER_TLS_VERIFY=1) or ssh://.', where: CLI },
  ENGINE_LOST: { meaning: 'The engine went away in the middle of a call; nothing was written.', exit: 2, fix: 'Check the engine (and any proxy or tunnel), then run again: the next build removes leftover containers.', where: CLI },
  ENGINE_TIMEOUT: { meaning: 'The engine did not answer a call within its time limit.', exit: 2, fix: 'Check the engine; raise the timeout option named in the message if it is only slow.', where: CLI },
  ENGINE_ERROR: { meaning: 'The engine refused a request (its own status and message are quoted).', exit: 2, fix: "Act on the engine's message.", where: CLI },
  IMAGE_BUILD_FAILED: { meaning: 'Building an image (the builder image, a deploy image) failed; the last lines of its output are quoted.', exit: 1, fix: 'Read the build output; a package name or the base image is the usual culprit.', where: CLI },
  IMAGE_NOT_FOUND: { meaning: 'An image the command needs is not on the engine.', exit: 2, fix: 'Build or load it, or `--pull` where the command offers it.', where: CLI },
  IMAGE_PULL_FAILED: { meaning: 'Pulling an image failed.', exit: 2, fix: 'Check the reference, the registry and its credentials.', where: CLI },
  IMAGE_PUSH_FAILED: { meaning: 'Pushing an image failed.', exit: 2, fix: 'Check the registry, the tag and the credentials.', where: CLI },
  PROBE_FAILED: { meaning: "The host image's environment could not be read (OS release, C library, architecture).", exit: 2, fix: "Check that the image is a Linux image with a dynamic C library; the message says what was missing.", where: CLI },
  NO_PACKAGE_MANAGER: { meaning: 'The builder base image is of an OS whose package manager the builder recipe cannot use to install a toolchain.', exit: 2, fix: 'Set builder.base to a Debian, Ubuntu or Alpine image with the same C library as the host.', where: CLI },
  UNSUPPORTED_TARGET: { meaning: 'The plugin kind cannot be built or loaded for this host (go-c-shared or C++ on musl).', exit: 2, fix: 'Use the kind the message proposes (kind c for musl hosts).', where: CLI },
  HOST_BINARY_UNUSABLE: { meaning: "host.binary cannot be read from the host image or is not a Go binary with build info.", exit: 2, fix: 'Point host.binary at the Go host executable inside the image.', where: CLI },
  HOST_IMAGE_MOVED: { meaning: '`builder deploy`: the host image reference now names another image than the one the plugins were built for.', exit: 1, fix: 'See what changed with `builder drift`, rebuild with `builder build`, then deploy.', where: CLI },
  ENVIRONMENT_CHANGED: { meaning: 'Only some plugins were named, but the environment changed since the lockfile: the others were built for the old one.', exit: 2, fix: 'Build every plugin (`builder build` without names); `builder drift` shows what changed.', where: CLI },
  PLATFORM_MISMATCH: { meaning: 'An image is of another platform than the one asked for (the engine keeps one platform per tag).', exit: 2, fix: 'Tag the wanted platform variant on its own and pass that.', where: CLI },
  PLATFORM_NOT_LOCKED: { meaning: "The lockfile has no section for this machine's (or the asked) platform.", exit: 2, fix: 'Add the platform to host.platforms and build, or run on a locked platform.', where: EVERYWHERE },
  PLATFORM_REQUIRED: { meaning: 'A multi-platform lockfile needs `--platform` for this command.', exit: 2, fix: 'Pass --platform os/arch.', where: CLI },
  GO_SETTING_UNSUPPORTED: { meaning: 'The Go host binary was built with a setting plugins cannot match (the gccgo compiler).', exit: 2, fix: 'Build the host with the gc toolchain, or use go-c-shared / c plugins for it.', where: CLI },
  // Building
  BUILD_LOCKED: { meaning: 'Another builder build is running in this project.', exit: 2, fix: 'Wait for it (leave out --no-wait), or remove the stale lock file named.', where: CLI },
  BUILD_LOCK_INVALID: { meaning: "The project's build lock file was not written by this tool.", exit: 2, fix: 'Remove the file named if no builder build is running.', where: CLI },
  CANCELLED: { meaning: 'The run was interrupted (a signal, a closed output); nothing was written and its containers were removed.', exit: 1, exitNote: '128 + the signal: 130 on SIGINT, 143 on SIGTERM; 141 when stdout closed', fix: 'Run it again.', where: CLI },
  COMPILER_CACHE_REFUSED: { meaning: 'A compiler cache archive holds an entry the tool will not extract (a link, a path outside, a special file).', exit: 2, fix: 'Remove the cache archive named; the next build makes a clean one.', where: CLI },
  PROOF_UNAVAILABLE: { meaning: "No loading program could run in the host image to prove the artifacts load.", exit: 2, fix: 'Set host.loader, or build with --no-prove (the lockfile then says not proven).', where: CLI },
  ENVIRONMENT_MISMATCH: { meaning: "The host's environment differs from the one the plugins were built for; every field is listed.", exit: 1, fix: 'Rebuild with `builder build` against this host image, or run the plugins on the image they were built for.', where: EVERYWHERE },
  GO_MODULE_MISMATCH: { meaning: 'A Go plugin was built with other versions of packages than its host binary.', exit: 1, fix: "Build the plugin with the host's module versions (builder does from host.binary).", where: EVERYWHERE },
  UNSIGNED_KEPT_PLUGINS: { meaning: '`build --sign-key` refused to sign: plugins kept from the lockfile were not signed by this key, which would then vouch for them.', exit: 1, fix: 'Build every plugin with --sign-key, or sign the current lockfile first (`builder sign --key KEY` checks every artifact).', where: CLI },
  // Lockfiles, signatures and artifacts
  LOCKFILE_MISSING: { meaning: 'The lockfile is not there.', exit: 2, fix: 'Run `builder build`, or pass --lock FILE.', where: EVERYWHERE },
  LOCKFILE_INVALID: { meaning: 'The lockfile cannot be parsed, does not match its schema, or is not in canonical form.', exit: 2, fix: 'Regenerate it with `builder build`, or restore it from version control.', where: EVERYWHERE },
  LOCKFILE_TOO_LARGE: { meaning: 'The lockfile is larger than any real one (a guard against hostile input).', exit: 2, fix: 'Regenerate it with `builder build`.', where: EVERYWHERE },
  LOCKFILE_IS_SHARD: { meaning: 'The lockfile of one shard was given where the merged lockfile is needed.', exit: 2, fix: 'Merge the shards first (`builder lock merge SHARD-LOCKFILES…`).', where: CLI },
  LOCK_MERGE_REFUSED: { meaning: 'Shard lockfiles cannot be merged (a shard missing or twice, other plans, other environments).', exit: 2, fix: 'Build the shards from one commit and config; the message names the conflict.', where: CLI },
  UNSIGNED_LOCKFILE: { meaning: 'Trusted keys are configured but the lockfile has no signature.', exit: 1, fix: 'Sign it (`builder sign` or `build --sign-key`) and deploy the .sig beside it.', where: EVERYWHERE },
  BAD_SIGNATURE: { meaning: 'The lockfile signature does not verify with any trusted key.', exit: 1, fix: 'Deploy the lockfile and signature from the same signed build; check the trusted keys.', where: EVERYWHERE },
  BAD_KEY: { meaning: 'A signing or trusted key cannot be used (format, type, permissions).', exit: 2, fix: 'Use an Ed25519 key made by `builder keygen` (or openssl), readable only by its owner.', where: EVERYWHERE },
  BAD_SERIAL: { meaning: "The previous signature's serial is more than a day ahead of this machine's clock (a signer's clock was wrong).", exit: 2, fix: 'Fix the clock, remove the old .sig and sign again; restart the hosts that served the future-dated set.', where: CLI },
  ROLLBACK_REFUSED: { meaning: 'A signed lockfile with a lower serial than the one already accepted.', exit: 1, fix: 'Deploy the newer lockfile; a rollback needs a new signature with a higher serial.', where: EVERYWHERE },
  HASH_MISMATCH: { meaning: "An artifact's sha256 differs from the lockfile's.", exit: 1, fix: 'Deploy the .so and the lockfile from the same build.', where: EVERYWHERE },
  SIZE_MISMATCH: { meaning: "An artifact's size differs from the lockfile's (checked before hashing).", exit: 1, fix: 'Deploy the .so and the lockfile from the same build.', where: EVERYWHERE },
  FILE_MISSING: { meaning: 'A file the lockfile lists is not there.', exit: 1, fix: 'Deploy it beside the lockfile.', where: EVERYWHERE },
  NOT_A_REGULAR_FILE: { meaning: 'A path that must be a regular file is a link, FIFO, device or directory.', exit: 1, fix: 'Replace it with the regular file.', where: EVERYWHERE },
  FILE_TOO_LARGE: { meaning: 'A file is larger than the limit for its kind.', exit: 1, fix: 'Check that the right file is deployed.', where: EVERYWHERE },
  FILE_UNREADABLE: { meaning: 'A file cannot be opened or read (the reason is quoted).', exit: 1, fix: "Check the file's permissions and filesystem.", where: EVERYWHERE },
  UNSAFE_ARTIFACT: { meaning: 'A build produced an output entry that is not a regular file directly in its output directory; it was not copied out.', exit: 1, fix: 'Make the plugin build write only regular files into its output directory.', where: CLI },
  BAD_TAG: { meaning: '`builder deploy --tag` is not an image reference.', exit: 2, fix: 'Give REPOSITORY[:TAG] (lowercase path; a tag of letters, digits, _ . -).', where: CLI },
  // Deploying
  DEPLOY_TAG_REFUSED: { meaning: '`builder deploy --tag` names an image the tool or the project relies on (its own image names, the host image).', exit: 2, fix: 'Tag the deploy image under your own repository.', where: CLI },
  DEPLOY_VERIFY_FAILED: { meaning: 'The deployed image does not pass verify; the tag was not written.', exit: 1, fix: 'Read the verify problems in the message; rebuild the plugins for this host.', where: CLI },
  // Registries: publish and pull
  BAD_REFERENCE: { meaning: 'An image reference cannot be read (registry/repository[:tag][@sha256:…]).', exit: 2, fix: 'Write it as registry/repository@sha256:<64 hex>, e.g. 127.0.0.1:5000/team/plugins@sha256:….', where: EVERYWHERE },
  TAG_REFUSED: { meaning: 'A plugin set was named by a tag where a digest is required: a tag can be moved to other bytes.', exit: 2, fix: 'Use the digest `builder publish` printed (REPO@sha256:…), or pass --allow-tag to resolve the tag once (it is logged).', where: EVERYWHERE },
  REGISTRY_UNREACHABLE: { meaning: 'The registry could not be reached (connection refused or reset, name not found, TLS failed), and the local store has no copy of the set.', exit: 2, fix: 'Check the registry address and that it runs; a host with the set in its store starts without it.', where: EVERYWHERE },
  REGISTRY_TIMEOUT: { meaning: 'The registry sent nothing for too long, or a transfer did not finish within its time limit (a slow drip counts).', exit: 2, fix: 'Check the registry and the network; raise --registry-timeout if the set is large and the link slow.', where: EVERYWHERE },
  REGISTRY_ERROR: { meaning: 'The registry answered a request with an unexpected status, or with an answer larger than the tool reads (its status and error code are quoted).', exit: 2, fix: "Act on the registry's message; a 404 means the repository or digest does not exist there.", where: EVERYWHERE },
  REGISTRY_AUTH_FAILED: { meaning: 'The registry refused the credentials (401/403), or asked for an authentication scheme the tool does not speak.', exit: 2, fix: 'Log in with `docker login REGISTRY` (the docker config and its credential helpers are read), and check the repository permissions.', where: EVERYWHERE },
  REGISTRY_INSECURE: { meaning: 'A request would have gone over plain HTTP to a registry that is not on loopback (a redirect from https to http, an http token realm), or followed too many redirects.', exit: 2, fix: 'Use the https address; pass --plain-http only for a registry you reach over a network you trust.', where: EVERYWHERE },
  DIGEST_MISMATCH: { meaning: 'Bytes from the registry are not those the digest names (a manifest, a blob, or more bytes than its descriptor declares): nothing of them is kept.', exit: 1, fix: 'Check the digest; a registry (or proxy) serving other bytes under it is compromised or broken.', where: EVERYWHERE },
  SET_INVALID: { meaning: 'A published document is not a plugin set this tool accepts: another artifact type, a layer a set cannot have, a count or size over the limits, or layers that differ from its lockfile.', exit: 1, fix: 'Publish the set with `builder publish`; the message names the offending part.', where: EVERYWHERE },
  REF_NOT_ALLOWED: { meaning: 'A reload by reference was refused: the host trusts no signing key (so a caller would choose the code it runs), or the reference names a repository other than the --from one and those allowed.', exit: 2, fix: 'Configure --trust-key / --trust-dir; name the repository with --allow-repository REGISTRY/REPO.', where: RUNTIMES },
  STORE_LOCKED: { meaning: 'Another process is using the plugin store directory.', exit: 2, fix: 'Give each host its own --store, or wait for the other pull to finish.', where: EVERYWHERE },
  // Loading and serving
  SEAL_FAILED: { meaning: 'The runtime could not make the private, sealed copy of a plugin to load.', exit: 1, fix: 'Check memory and /tmp limits (memfd_create, or the fallback directory named).', where: RUNTIMES },
  BAD_MANIFEST: { meaning: "A C plugin's manifest (builder_plugin_manifest) is missing or does not match its lockfile entry.", exit: 1, fix: 'Export builder_plugin_manifest returning the JSON manifest (see `builder init`).', where: ['node'] },
  LOAD_FAILED: { meaning: "The loader refused the plugin; its own message is quoted.", exit: 1, fix: 'Rebuild the plugin with `builder build` against this host image; `builder verify` explains the rule.', where: EVERYWHERE },
  CANARY_CRASHED: { meaning: 'Loading a new version killed the throwaway canary process (exit status or signal and its last words quoted); the serving version keeps answering.', exit: 1, fix: "Fix the plugin's constructor or init (the canary's words say which), then reload.", where: RUNTIMES },
  RELOAD_TIMEOUT: { meaning: 'A reload did not finish within --reload-timeout; the serving versions keep answering.', exit: 1, fix: "Find what hangs in the plugin's load (the canary reports it), or raise --reload-timeout.", where: ['node'] },
  NOT_LOADED: { meaning: 'No reload has finished yet: the host serves nothing so far.', exit: 1, fix: 'Wait for the first reload, or read its refusal in GET /plugins.', where: RUNTIMES },
  BAD_CALL: { meaning: 'A call names no loaded plugin or function, or its arguments do not match the manifest.', exit: 1, fix: "Call a function the plugin's manifest declares, with its argument types.", where: ['node'] },
  CALLS_BUSY: { meaning: 'Too many calls are already waiting for a worker thread (HTTP 503).', exit: 1, fix: 'Retry later, or raise UV_THREADPOOL_SIZE and --max-waiting-calls.', where: ['node'] },
  CALL_TIMEOUT: { meaning: 'A call did not return (or start) within --call-timeout (HTTP 504).', exit: 1, fix: 'Find why the plugin function blocks, or raise --call-timeout.', where: ['node'] },
  PLUGIN_STUCK: { meaning: 'An earlier call into the plugin never returned; no further call is made to it (HTTP 503).', exit: 1, fix: 'Restart the host to free the thread, and fix the function that blocks.', where: ['node'] },
  BAD_TOKEN: { meaning: "The Go host's admin handler has no usable token configured (too short, or none), so it refuses every request.", exit: 1, fix: 'Give the admin options a long random token (pluginhost.CheckToken says what it needs) and send it as a bearer token.', where: ['go'] },
  NOT_A_GO_PLUGIN: { meaning: 'A go-plugin artifact has no Go build information.', exit: 1, fix: 'Build it with `builder build` (kind go-plugin).', where: ['go'] },
  GO_VERSION_MISMATCH: { meaning: 'A Go plugin was built by another Go version than the host binary (loading it would crash the host).', exit: 1, fix: "Rebuild it against the host (builder reads the host's Go version from host.binary).", where: ['go'] },
  BAD_REGISTER: { meaning: "A Go plugin's Register symbol is missing, of the wrong type, or failed.", exit: 1, fix: 'Export `func Register(r pluginhost.Registrar) error` and return nil on success.', where: ['go'] },
  INTERNAL: { meaning: 'An unexpected error inside the tool: a bug.', exit: 2, fix: 'Report it with the message and the command that ran.', where: EVERYWHERE },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (code: string): code is ErrorCode => Object.hasOwn(ERROR_CODES, code);
