package pluginhost

import (
	"encoding/json"
	"fmt"
	"regexp"
)

// The documents of a plugin set as `builder publish` writes them (docs/registry.md).
const (
	ociManifest       = "application/vnd.oci.image.manifest.v1+json"
	ociIndex          = "application/vnd.oci.image.index.v1+json"
	pluginSetArtifact = "application/vnd.plugin-builder.plugin-set.v1"
	lockfileMedia     = "application/vnd.plugin-builder.lockfile.v1+json"
	signatureMedia    = "application/vnd.dsse.envelope.v1+json"
	pluginMedia       = "application/vnd.plugin-builder.plugin.v1+elf"
	titleAnnotation   = "org.opencontainers.image.title"
	maxDocumentBytes  = 4 << 20
	maxSetLayers      = 1002
	maxSetPlatforms   = 16
)

var pluginPath = regexp.MustCompile(`^(?:linux-[a-z0-9]+/)?[A-Za-z0-9_.-]+\.so$`)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type setDocument struct {
	index     bool
	platforms map[string]descriptor
	lockfile  *descriptor
	signature *descriptor
	plugins   []descriptor
}

func setInvalid(what, why string) *Error {
	return &Error{Code: ErrSetInvalid.Code, Message: what + " " + why, Fix: "Publish plugin sets with `builder publish`."}
}

func checkDescriptor(d descriptor, what string, max int64) error {
	if !refDigest.MatchString(d.Digest) {
		return setInvalid(what, "has a digest that is not sha256:<64 hex>")
	}
	if d.Size < 0 || d.Size > max {
		return setInvalid(what, fmt.Sprintf("declares %d bytes, more than the limit of %d", d.Size, max))
	}
	return nil
}

// parseSetDocument reads a registry's document (already checked against its digest) as a plugin
// set, refusing anything a set cannot be before a blob is fetched.
func parseSetDocument(data []byte, what string, maxPluginBytes int64) (*setDocument, error) {
	var doc struct {
		SchemaVersion int               `json:"schemaVersion"`
		MediaType     string            `json:"mediaType"`
		ArtifactType  string            `json:"artifactType"`
		Manifests     []json.RawMessage `json:"manifests"`
		Layers        []json.RawMessage `json:"layers"`
	}
	if len(data) > maxDocumentBytes {
		return nil, setInvalid(what, "is larger than 4 MiB")
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.SchemaVersion != 2 {
		return nil, setInvalid(what, "is not an OCI manifest or index (schemaVersion 2)")
	}
	// An index only routes to the platforms' manifests, each fetched by digest and checked as a
	// set itself; tools older than OCI 1.1 (skopeo 1.9) drop an index's artifactType when they copy it.
	if doc.ArtifactType != pluginSetArtifact && !(doc.MediaType == ociIndex && doc.ArtifactType == "") {
		return nil, setInvalid(what, fmt.Sprintf("is not a plugin set: its artifactType is %q", printableShort(doc.ArtifactType)))
	}
	out := &setDocument{}
	switch doc.MediaType {
	case ociIndex:
		if len(doc.Manifests) == 0 || len(doc.Manifests) > maxSetPlatforms {
			return nil, setInvalid(what, fmt.Sprintf("lists %d manifests (1 to %d)", len(doc.Manifests), maxSetPlatforms))
		}
		out.index, out.platforms = true, map[string]descriptor{}
		for i, raw := range doc.Manifests {
			var d descriptor
			name := fmt.Sprintf("%s manifests[%d]", what, i)
			if json.Unmarshal(raw, &d) != nil || d.MediaType != ociManifest || d.Platform == nil {
				return nil, setInvalid(name, "is not an OCI image manifest with a platform")
			}
			if err := checkDescriptor(d, name, maxDocumentBytes); err != nil {
				return nil, err
			}
			platform := d.Platform.OS + "/" + d.Platform.Architecture
			if _, dup := out.platforms[platform]; dup {
				return nil, setInvalid(what, "lists a platform twice")
			}
			out.platforms[platform] = d
		}
		return out, nil
	case ociManifest:
	default:
		return nil, setInvalid(what, fmt.Sprintf("has mediaType %q, not an OCI manifest or index", printableShort(doc.MediaType)))
	}
	if len(doc.Layers) > maxSetLayers {
		return nil, setInvalid(what, fmt.Sprintf("lists %d layers, more than %d", len(doc.Layers), maxSetLayers))
	}
	titles := map[string]bool{}
	for i, raw := range doc.Layers {
		var d descriptor
		name := fmt.Sprintf("%s layers[%d]", what, i)
		if json.Unmarshal(raw, &d) != nil {
			return nil, setInvalid(name, "is not a descriptor")
		}
		if err := checkDescriptor(d, name, maxPluginBytes); err != nil {
			return nil, err
		}
		title, ok := d.Annotations[titleAnnotation]
		if !ok || titles[title] {
			return nil, setInvalid(name, "has no title, or a repeated one")
		}
		titles[title] = true
		switch {
		case d.MediaType == lockfileMedia && title == "builder.lock.json" && out.lockfile == nil && d.Size <= DefaultLimits.MaxLockfileBytes:
			dd := d
			out.lockfile = &dd
		case d.MediaType == signatureMedia && title == "builder.lock.json.sig" && out.signature == nil && d.Size <= DefaultLimits.MaxSignatureBytes:
			dd := d
			out.signature = &dd
		case d.MediaType == pluginMedia && pluginPath.MatchString(title):
			out.plugins = append(out.plugins, d)
		default:
			return nil, setInvalid(name, fmt.Sprintf("(%s, %q) is not a lockfile, signature or plugin of a set", printableShort(d.MediaType), printableShort(title)))
		}
	}
	if out.lockfile == nil {
		return nil, setInvalid(what, "has no lockfile layer")
	}
	return out, nil
}

// checkLayers: every locked artifact of this platform is a layer with its sha256 and size, and
// there is no other; so a blob is fetched only when the (signed) lockfile pins it.
func checkLayers(doc *setDocument, lock *Lockfile, what string) error {
	expected := map[string]LockedPlugin{}
	for _, p := range lock.Plugins {
		expected[p.File] = p
	}
	for _, d := range doc.plugins {
		title := d.Annotations[titleAnnotation]
		p, ok := expected[title]
		if !ok {
			return setInvalid(what, "carries "+title+", which its lockfile does not list")
		}
		if d.Digest != "sha256:"+p.Sha256 || d.Size != p.Size {
			return setInvalid(what, fmt.Sprintf(": layer %s is %s (%d bytes); the lockfile locks sha256:%s (%d bytes)", title, d.Digest, d.Size, p.Sha256, p.Size))
		}
		delete(expected, title)
	}
	for file := range expected {
		return setInvalid(what, "lacks "+file+", which its lockfile lists")
	}
	return nil
}
