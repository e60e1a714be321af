package pluginhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// RegistryOptions: the plugin set comes from an OCI registry, pulled by digest into a local
// content-addressed store and loaded from there with every check of a deployed directory.
type RegistryOptions struct {
	// Ref is REGISTRY/REPOSITORY@sha256:… (what `builder publish` printed).
	Ref string
	// Store is the local store (one host's; it survives restarts: a set in it needs no registry).
	Store string
	// StoreMaxBytes: least recently used sets are collected above this; default 2 GiB.
	StoreMaxBytes int64
	// AllowTag accepts a tag in Ref, resolved once to a digest (logged).
	AllowTag bool
	// PlainHTTP speaks plain HTTP to a registry that is not on loopback.
	PlainHTTP bool
	// AllowRepositories: REGISTRY/REPOSITORY names a reload by reference may pull from, besides Ref's.
	AllowRepositories []string
	// PullTimeout bounds the first pull, retried with backoff while the registry is unreachable; default 5 min.
	PullTimeout time.Duration
	// RegistryTimeout: a connection silent this long fails; default 30 s.
	RegistryTimeout time.Duration
}

type registrySource struct {
	opts     RegistryOptions
	keys     []TrustedKey
	log      func(level, message string)
	store    *pluginStore
	mu       sync.Mutex // one pull at a time: the collector of one must not remove what another lays out
	serving  string
	declared string
	// pinned: sets pulled and not yet loaded or refused (by count); the collector keeps them.
	pinned map[string]int
}

const servingRecord = "serving.json"

func isTransientErr(err error) bool {
	var e *Error
	return errors.As(err, &e) && (e.transient || e.Code == ErrRegistryUnreachable.Code || e.Code == ErrRegistryTimeout.Code)
}

func openRegistrySource(opts RegistryOptions, keys []TrustedKey, log func(string, string)) (*registrySource, source, error) {
	if opts.StoreMaxBytes == 0 {
		opts.StoreMaxBytes = 2 << 30
	}
	if opts.PullTimeout == 0 {
		opts.PullTimeout = 5 * time.Minute
	}
	if opts.RegistryTimeout == 0 {
		opts.RegistryTimeout = 30 * time.Second
	}
	if opts.Store == "" {
		return nil, source{}, fmt.Errorf("pluginhost: RegistryOptions.Store is required")
	}
	st, err := openStore(opts.Store, opts.StoreMaxBytes)
	if err != nil {
		return nil, source{}, err
	}
	rs := &registrySource{opts: opts, keys: keys, log: log, store: st, declared: opts.Ref, pinned: map[string]int{}}
	first, err := rs.initial()
	if err != nil {
		st.close()
		return nil, source{}, err
	}
	return rs, first, nil
}

func (r *registrySource) close() { r.store.close() }

// initial: a set reloaded by reference since this Ref was configured is resumed; then the store
// alone (a restart needs no registry); then the registry, retried with backoff (1 s doubling to
// 30 s) while it is unreachable, until PullTimeout.
func (r *registrySource) initial() (source, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.PullTimeout)
	defer cancel()
	var record struct{ From, Serving string }
	if data, err := readSmallFile(filepath.Join(r.opts.Store, servingRecord), "The serving record", 16<<10, false); err == nil && json.Unmarshal(data, &record) == nil && record.From == r.opts.Ref && record.Serving != "" && record.Serving != r.opts.Ref {
		// The record is the store's, so it gets the rule a reload by reference gets.
		if _, err := r.reloadAllowed(record.Serving); err != nil {
			r.log("warn", fmt.Sprintf("not resuming %s (%v); starting from %s", record.Serving, err, r.opts.Ref))
		} else if src, where, err := r.resume(ctx, record.Serving); err == nil {
			r.log("info", fmt.Sprintf("resuming %s %s: it was reloaded by reference after the start from %s (a new Ref replaces it)", src.ref, where, r.opts.Ref))
			return src, nil
		} else {
			r.log("warn", fmt.Sprintf("cannot resume %s (%v); starting from %s", record.Serving, err, r.opts.Ref))
		}
	}
	return r.first(ctx, r.opts.Ref)
}

// resume: from the store, else one try of the registry (not the retries Ref gets).
func (r *registrySource) resume(ctx context.Context, text string) (source, string, error) {
	ref, err := ParseReference(text)
	if err != nil {
		return source{}, "", err
	}
	src, err := r.pull(ctx, ref, false)
	if err == nil {
		return src, "from the store; the registry was not asked", nil
	}
	if !isTransientErr(err) {
		return source{}, "", err
	}
	src, err = r.pull(ctx, ref, true)
	return src, "from the registry", err
}

func (r *registrySource) first(ctx context.Context, text string) (source, error) {
	ref, err := ParseReference(text)
	if err != nil {
		return source{}, err
	}
	if ref.Digest != "" {
		src, err := r.pull(ctx, ref, false)
		if err == nil {
			r.log("info", fmt.Sprintf("serving %s from the store (%s); the registry was not asked", src.ref, src.dir))
			return src, nil
		}
		if !isTransientErr(err) {
			return source{}, err
		}
	}
	wait := time.Second
	for attempt := 1; ; attempt++ {
		src, err := r.pull(ctx, ref, true)
		if err == nil {
			r.log("info", "pulled "+src.ref)
			return src, nil
		}
		if !isTransientErr(err) {
			return source{}, err
		}
		r.log("warn", fmt.Sprintf("pull %d of %s failed (%s): %s; the store has no copy; retrying in %d s", attempt, text, asError(err).Code, err.Error(), wait/time.Second))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return source{}, &Error{Code: ErrRegistryUnreachable.Code, Message: fmt.Sprintf("%s could not be pulled within %s (%d attempts; last: %s), and the store %s has no copy.", text, r.opts.PullTimeout, attempt, err.Error(), r.opts.Store), Fix: "Start the registry (or fix its address); a host restarted with the set in its store needs no registry."}
		}
		if wait *= 2; wait > 30*time.Second {
			wait = 30 * time.Second
		}
	}
}

// pullForReload: a reload by reference, as an HTTP caller asks for it — only with trusted keys
// (else the caller chooses the code this host runs) and only from Ref's repository or an allowed one.
func (r *registrySource) pullForReload(ctx context.Context, text string) (source, error) {
	ref, err := r.reloadAllowed(text)
	if err != nil {
		return source{}, err
	}
	return r.pull(ctx, ref, true)
}

// reloadAllowed is the rule for a set other than Ref (a reload by reference, or resuming one).
func (r *registrySource) reloadAllowed(text string) (Reference, error) {
	ref, err := ParseReference(text)
	if err != nil {
		return Reference{}, err
	}
	if len(r.keys) == 0 {
		return Reference{}, &Error{Code: ErrRefNotAllowed.Code, Message: "This host trusts no signing key: a reload by reference would let the caller choose the code it runs.", Fix: "Configure TrustedKeys."}
	}
	allowed := map[string]bool{}
	if d, err := ParseReference(r.declared); err == nil {
		allowed[d.Name()] = true
	}
	for _, a := range r.opts.AllowRepositories {
		if d, err := ParseReference(a); err == nil {
			allowed[d.Name()] = true
		}
	}
	if !allowed[ref.Name()] {
		return Reference{}, &Error{Code: ErrRefNotAllowed.Code, Message: ref.Name() + " is not a repository this host pulls from.", Fix: "Publish the set to the Ref repository, or add it to AllowRepositories."}
	}
	return ref, nil
}

// release unpins a pulled set once it was loaded or refused.
func (r *registrySource) release(src source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pinned[src.key]--; r.pinned[src.key] <= 0 {
		delete(r.pinned, src.key)
	}
}

// markServing records what the host serves now (called under the host's reload lock, so the
// record and the host never disagree).
func (r *registrySource) markServing(src source) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.serving = src.key
	text, _ := json.Marshal(map[string]string{"from": r.declared, "serving": src.ref})
	temp := filepath.Join(r.opts.Store, servingRecord+"."+randomHex(4))
	if err := os.WriteFile(temp, append(text, '\n'), 0o644); err == nil {
		if os.Rename(temp, filepath.Join(r.opts.Store, servingRecord)) != nil {
			os.Remove(temp)
		}
	}
}

// pull fetches a set into the store (parts already there, re-checked, are reused) and lays it
// out: documents checked against their digests, the signature against the trusted keys before
// any plugin blob is fetched, every plugin blob pinned by the lockfile and checked as it streams.
func (r *registrySource) pull(ctx context.Context, ref Reference, online bool) (src source, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := []string{}
	if r.serving != "" {
		keep = append(keep, r.serving)
	}
	for key := range r.pinned {
		keep = append(keep, key)
	}
	defer func() {
		if err != nil {
			r.store.collect(keep)
		}
	}()
	var client *registryClient
	if online {
		client = newRegistryClient(ref, r.opts.PlainHTTP, r.opts.RegistryTimeout)
	}
	offline := func(what string) error {
		return &Error{Code: ErrRegistryUnreachable.Code, Message: what + " is not in the store and the registry is not being asked.", transient: true}
	}
	digest := ref.Digest
	if digest == "" {
		if !r.opts.AllowTag {
			return source{}, &Error{Code: ErrTagRefused.Code, Message: ref.String() + " names a tag; plugin sets are pulled by digest, because a tag can be moved to other bytes.", Fix: "Use REPO@sha256:… (what `builder publish` printed), or AllowTag."}
		}
		if client == nil {
			return source{}, offline("a tag")
		}
		tag := ref.Tag
		if tag == "" {
			tag = "latest"
		}
		data, d, err := client.getDocument(ctx, tag)
		if err != nil {
			return source{}, err
		}
		digest = d
		r.log("warn", fmt.Sprintf("tag %s resolved to %s: this digest is what is pulled", ref.String(), digest))
		if err := r.store.writeDocument(digest, data); err != nil {
			return source{}, err
		}
	}
	pinned := ref.Name() + "@" + digest
	document := func(d, what string) ([]byte, error) {
		if data := r.store.readChecked(d, maxDocumentBytes); data != nil {
			return data, nil
		}
		if client == nil {
			return nil, offline(what)
		}
		data, _, err := client.getDocument(ctx, d)
		if err != nil {
			return nil, err
		}
		return data, r.store.writeDocument(d, data)
	}
	repaired := false
	blob := func(d string, size int64, what string) error {
		if r.store.hasBlob(d, size) {
			return nil
		}
		repaired = true
		if client == nil {
			return offline(what)
		}
		body, err := client.openBlob(ctx, d)
		if err != nil {
			return err
		}
		defer body.Close()
		if err := r.store.writeBlob(d, size, idleReader(ctx, body, r.opts.RegistryTimeout, body), pinned+": "+what+" ("+d+")"); err != nil {
			if ctx.Err() != nil {
				return transportFailure(ctx.Err(), ref.Registry, ctx)
			}
			return err
		}
		r.log("info", fmt.Sprintf("fetched %s (%d bytes, %s…)", what, size, d[:19]))
		return nil
	}
	topBytes, err := document(digest, "the set "+pinned)
	if err != nil {
		return source{}, err
	}
	maxPlugin := DefaultLimits.MaxPluginBytes
	top, err := parseSetDocument(topBytes, pinned, maxPlugin)
	if err != nil {
		return source{}, err
	}
	platform := Platform()
	key := strings.TrimPrefix(digest, "sha256:")
	documents := []string{digest}
	manifest := top
	if top.index {
		entry, ok := top.platforms[platform]
		if !ok {
			names := []string{}
			for p := range top.platforms {
				names = append(names, p)
			}
			return source{}, setInvalid(pinned, fmt.Sprintf("holds plugins for %s; this host is %s", strings.Join(names, ", "), platform))
		}
		key += "-" + strings.Replace(platform, "/", "-", 1)
		data, err := document(entry.Digest, "the "+platform+" manifest of "+pinned)
		if err != nil {
			return source{}, err
		}
		if int64(len(data)) != entry.Size {
			return source{}, &Error{Code: ErrDigestMismatch.Code, Message: fmt.Sprintf("%s: the %s manifest is %d bytes; the index says %d", pinned, platform, len(data), entry.Size)}
		}
		if manifest, err = parseSetDocument(data, pinned+" ("+platform+")", maxPlugin); err != nil {
			return source{}, err
		}
		if manifest.index {
			return source{}, setInvalid(pinned, "has an index inside its index")
		}
		documents = append(documents, entry.Digest)
	}
	existing, found := r.store.existingSet(key)
	lockBytes := r.store.readChecked(manifest.lockfile.Digest, DefaultLimits.MaxLockfileBytes)
	if lockBytes == nil {
		if err := blob(manifest.lockfile.Digest, manifest.lockfile.Size, "the lockfile"); err != nil {
			return source{}, err
		}
		if lockBytes = r.store.readChecked(manifest.lockfile.Digest, DefaultLimits.MaxLockfileBytes); lockBytes == nil {
			return source{}, &Error{Code: ErrDigestMismatch.Code, Message: "the lockfile changed in the store as it was written"}
		}
	}
	var sigBytes []byte
	if manifest.signature != nil {
		if sigBytes = r.store.readChecked(manifest.signature.Digest, DefaultLimits.MaxSignatureBytes); sigBytes == nil {
			if err := blob(manifest.signature.Digest, manifest.signature.Size, "the signature"); err != nil {
				return source{}, err
			}
			sigBytes = r.store.readChecked(manifest.signature.Digest, DefaultLimits.MaxSignatureBytes)
		}
	}
	lock, err := ParseLockfileFor(lockBytes, platform)
	if err != nil {
		return source{}, setInvalid(pinned, "carries a lockfile that is not valid: "+err.Error())
	}
	if len(r.keys) > 0 {
		if sigBytes == nil {
			return source{}, refuse(ErrUnsignedLockfile, "", pinned+" carries no signature, and signatures are required (trusted keys are configured).", "Sign the lockfile (`builder sign`) before `builder publish`.", nil)
		}
		_, subjects, _, err := verifyLockfileSignature(lockBytes, sigBytes, r.keys)
		if err != nil {
			return source{}, err
		}
		if err := checkArtifactsSigned(lock, subjects); err != nil {
			return source{}, err
		}
	}
	if err := checkLayers(manifest, lock, pinned); err != nil {
		return source{}, err
	}
	files := []setFile{{Path: "builder.lock.json", Digest: manifest.lockfile.Digest}}
	if manifest.signature != nil {
		files = append(files, setFile{Path: "builder.lock.json.sig", Digest: manifest.signature.Digest})
	}
	for _, d := range manifest.plugins {
		title := d.Annotations[titleAnnotation]
		if err := blob(d.Digest, d.Size, title); err != nil {
			return source{}, err
		}
		files = append(files, setFile{Path: title, Digest: d.Digest})
	}
	dir := existing
	if found && !repaired && !r.store.setMatches(existing, files) {
		repaired = true
	}
	if !found || repaired {
		if found {
			r.store.removeSet(key)
		}
		if dir, err = r.store.materialize(key, setRecord{Top: digest, Platform: platform, Documents: documents, Files: files}); err != nil {
			return source{}, err
		}
	}
	r.store.collect(append(keep, key))
	r.pinned[key]++
	lockPath := filepath.Join(dir, "builder.lock.json")
	return source{dir: dir, lockPath: lockPath, sigPath: lockPath + ".sig", ref: pinned, key: key}, nil
}

// ReloadRef switches the serving set to another published one (REGISTRY/REPO@sha256:…),
// through the same checks as any reload: only for a host opened with Options.Registry and
// trusted keys, and only from its repository (or an allowed one). A refused set changes nothing
// and is returned as the error.
func (h *Host[R]) ReloadRef(ref string) (Report, error) {
	if h.registry == nil {
		return h.Report(), &Error{Code: ErrRefNotAllowed.Code, Message: "this host was not opened with Options.Registry: it loads from its plugin directory, not from a registry"}
	}
	ctx, cancel := context.WithTimeout(context.Background(), h.registry.opts.PullTimeout)
	defer cancel()
	src, err := h.registry.pullForReload(ctx, ref)
	if err != nil {
		return h.Report(), err
	}
	defer h.registry.release(src)
	h.reloadMu.Lock()
	defer h.reloadMu.Unlock()
	report, err := h.reload(src)
	if err == nil && h.src == src {
		h.registry.markServing(h.src)
	}
	return report, err
}
