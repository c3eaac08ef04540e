package compose

import "errors"

// Sentinel errors. Errors returned by this package wrap one of these where it applies.
var (
	// ErrBaseLayerRead: a base layer would have had to be downloaded, which compose never does.
	// It happens when the registry refuses a cross-repository mount of a base layer.
	ErrBaseLayerRead = errors.New("base layer would have to be downloaded")
	// ErrCrossRegistry: the base and the target live on different registries, so base layers
	// cannot be mounted and would have to be copied.
	ErrCrossRegistry = errors.New("base and target are on different registries")
	// ErrUnsupportedBase: the base is neither an image manifest nor an index of image manifests
	// (schema 1, an artifact, a nested index, an index with no platform image).
	ErrUnsupportedBase = errors.New("unsupported base manifest")
	// ErrUnsupportedEntry: a file type a layer cannot carry (a socket, a device in a directory).
	ErrUnsupportedEntry = errors.New("unsupported file type")
	// ErrUnsafePath: a tar entry whose name climbs out of the tree ("../").
	ErrUnsafePath = errors.New("unsafe path in archive")
	// ErrLinkOutsideTree: a hard link whose target is not part of the tree being packed.
	ErrLinkOutsideTree = errors.New("hard link target outside the tree")
	// ErrTreeConflict: a path that is both a directory (it has children) and something else.
	ErrTreeConflict = errors.New("path is both a directory and a file")
	// ErrNotFound: the path asked for is not in the image or the directory.
	ErrNotFound = errors.New("not found")
	// ErrTemplate: a tag template that does not parse or names a field nobody supplied.
	ErrTemplate = errors.New("bad tag template")
	// ErrNoMatch: a base whose tag the --base-match expression does not match.
	ErrNoMatch = errors.New("base tag does not match the expression")
	// ErrFieldConflict: a template field given both by a flag and by the expression's groups.
	ErrFieldConflict = errors.New("template field given twice")
	// ErrDuplicateTarget: two bases that would be composed into the same target tag.
	ErrDuplicateTarget = errors.New("two bases map to the same target tag")
	// ErrBadShard: a shard that is not "i/n" with 1 <= i <= n.
	ErrBadShard = errors.New("bad shard")
	// ErrIncomplete: some bases failed; the others were composed. The error joins each failure.
	ErrIncomplete = errors.New("some images were not composed")
)
