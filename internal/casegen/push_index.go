package casegen

import (
	"context"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// PushIndex pushes to host/repo:tag (plain HTTP) what a buildx push makes of one small random
// image: an OCI index of its linux/amd64 image and its attestation manifest. It returns the
// digests of the index, the image and the attestation.
func PushIndex(ctx context.Context, host, repo, tag string) (idx, img, att string, err error) {
	image, err := random.Image(64, 1)
	if err != nil {
		return "", "", "", err
	}
	attestation, err := random.Image(32, 1)
	if err != nil {
		return "", "", "", err
	}
	imgDigest, err := image.Digest()
	if err != nil {
		return "", "", "", err
	}
	index := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex),
		mutate.IndexAddendum{Add: image, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: "amd64"}}},
		mutate.IndexAddendum{Add: attestation, Descriptor: v1.Descriptor{
			Platform: &v1.Platform{OS: "unknown", Architecture: "unknown"},
			Annotations: map[string]string{
				annotationRefType:   "attestation-manifest",
				annotationRefDigest: imgDigest.String(),
			},
		}},
	)
	ref, err := name.NewTag(host+"/"+repo+":"+tag, name.Insecure)
	if err != nil {
		return "", "", "", err
	}
	if err := remote.WriteIndex(ref, index, remote.WithContext(ctx)); err != nil {
		return "", "", "", err
	}
	idxDigest, err := index.Digest()
	if err != nil {
		return "", "", "", err
	}
	attDigest, err := attestation.Digest()
	if err != nil {
		return "", "", "", err
	}
	return idxDigest.String(), imgDigest.String(), attDigest.String(), nil
}
