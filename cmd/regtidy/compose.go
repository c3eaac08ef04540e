package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/spf13/cobra"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/registry"
)

// composeFlags are compose's own flags.
type composeFlags struct {
	basesFile string
	baseRepo  string
	baseMatch string
	repo      string
	tag       string
	fields    []string

	layerDir      string
	layerTar      string
	layerFrom     string
	layerFile     string
	layerPlatform string
	layerRepo     string
	at            string
	uid, gid      int
	saveLayer     string

	env        []string
	entrypoint string
	cmd        string
	labels     []string
	created    string
	createdBy  string

	keepAttestations bool
	dryRun           bool
	shard            string
}

func newComposeCmd(o *rootOptions) *cobra.Command {
	cf := &composeFlags{}
	cmd := &cobra.Command{
		Use:   "compose [BASE...] --repo REPOSITORY --tag TEMPLATE (--layer-dir DIR | --layer-tar FILE | --layer-from IMAGE:/PATH | --layer-file FILE)",
		Short: "Build thin images in the registry: each base image plus one shared, reproducible layer",
		Long: `compose puts one reproducible layer (an SDK tree) on top of every base image and pushes the
result, for every platform of every base, without Docker and without downloading a base layer.
Only the layer (once per repository), configs and manifests are uploaded; base layers are
mounted from the base repository. Bases come as arguments, from --bases-file, or from
--base-match over the tags of --base-repo; the expression's named groups and --field values
fill the --tag template. --shard i/n splits the bases between n CI jobs.

Layer entries get mtime SOURCE_DATE_EPOCH (else 0); the config's created time is --created,
else SOURCE_DATE_EPOCH, else now. Set SOURCE_DATE_EPOCH (e.g. to the commit time) and a rerun
pushes nothing.`,
		Example: `  regtidy compose --base-repo ghcr.io/openhands/eval-base \
    --base-match '(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)' \
    --repo ghcr.io/openhands/eval-agent-server --tag '{sdk}-{df}-{custom}-source-minimal' \
    --field sdk=$(git rev-parse --short=7 HEAD) --layer-dir ./build/agent-server --at /agent-server \
    --env AGENT_SERVER=/agent-server --entrypoint /agent-server/bin/agent --shard 2/8 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.runCompose(cmd.Context(), cf, args)
		},
	}
	o.addFormatFlag(cmd, "output", "o")
	f := cmd.Flags()
	f.StringVar(&cf.basesFile, "bases-file", "", "file of base references, one per line ('-' for standard input)")
	f.StringVar(&cf.baseRepo, "base-repo", "", "repository whose tags --base-match selects bases from")
	f.StringVar(&cf.baseMatch, "base-match", "", "regular expression a base tag must match as a whole; its named groups are template fields; explicit bases must match it too")
	f.StringVar(&cf.repo, "repo", "", "repository the thin images are pushed to (required)")
	f.StringVar(&cf.tag, "tag", "", "target tag template, e.g. '{sdk}-{df}-{custom}-source-minimal'; {tag} is the base tag (required)")
	f.StringArrayVar(&cf.fields, "field", nil, "template field name=value (repeatable)")
	f.StringVar(&cf.layerDir, "layer-dir", "", "build the layer from this directory")
	f.StringVar(&cf.layerTar, "layer-tar", "", "build the layer from this tarball (plain or gzip)")
	f.StringVar(&cf.layerFrom, "layer-from", "", "build the layer from a path inside an image, IMAGE:/PATH")
	f.StringVar(&cf.layerFile, "layer-file", "", "use this gzip layer file byte for byte (e.g. one saved with --save-layer)")
	f.StringVar(&cf.layerPlatform, "layer-platform", "linux/amd64", "platform of the --layer-from image when it is an index")
	f.StringVar(&cf.layerRepo, "layer-repo", "", "repository that already holds the layer, to mount it from")
	f.StringVar(&cf.at, "at", "", "where the layer's tree goes in the image (default: / or, with --layer-from, the source path)")
	f.IntVar(&cf.uid, "uid", 0, "owner of every layer entry")
	f.IntVar(&cf.gid, "gid", 0, "group of every layer entry")
	f.StringVar(&cf.saveLayer, "save-layer", "", "also write the built layer to this file, for reuse with --layer-file")
	f.StringArrayVar(&cf.env, "env", nil, "set an environment variable K=V (repeatable)")
	f.StringVar(&cf.entrypoint, "entrypoint", "", `new entrypoint: a JSON array ('["/bin/a","-x"]') or one executable; clears the base's cmd unless --cmd is given`)
	f.StringVar(&cf.cmd, "cmd", "", "new cmd: a JSON array or one word")
	f.StringArrayVar(&cf.labels, "label", nil, "set a config label k=v (repeatable)")
	f.StringVar(&cf.created, "created", "", "config creation time, RFC 3339 or Unix seconds (default: SOURCE_DATE_EPOCH, else now)")
	f.StringVar(&cf.createdBy, "created-by", "", "history entry of the new layer (default: 'COPY <at> (regtidy compose)')")
	f.BoolVar(&cf.keepAttestations, "keep-attestations", false, "keep the base index's attestation manifests (dropped by default)")
	f.BoolVar(&cf.dryRun, "dry-run", false, "compute every image and print what would be pushed; push nothing")
	f.StringVar(&cf.shard, "shard", "", "compose only shard i of n (1-based, e.g. 2/8), for a CI matrix")
	return cmd
}

func (o *rootOptions) runCompose(ctx context.Context, cf *composeFlags, args []string) error {
	if cf.repo == "" || cf.tag == "" {
		return usageError(errors.New("compose: --repo and --tag are required"))
	}
	tmpl, err := compose.ParseTemplate(cf.tag)
	if err != nil {
		return usageError(err)
	}
	extra, err := composeKeyValues("--field", cf.fields)
	if err != nil {
		return usageError(err)
	}
	labels, err := composeKeyValues("--label", cf.labels)
	if err != nil {
		return usageError(err)
	}
	shard, err := compose.ParseShard(cf.shard)
	if err != nil {
		return usageError(err)
	}
	opts, err := cf.imageOptions()
	if err != nil {
		return usageError(err)
	}
	opts.Labels = labels
	nameOpts := []name.Option{}
	if o.insecure {
		nameOpts = append(nameOpts, name.Insecure)
	}
	target, err := name.NewRepository(cf.repo, nameOpts...)
	if err != nil {
		return usageError(fmt.Errorf("--repo: %w", err))
	}

	c, err := o.client()
	if err != nil {
		return err
	}
	defer o.printStats(c)
	creds, err := o.credentials()
	if err != nil {
		return err
	}
	keychain := registry.Keychain(creds)
	ropts := []remote.Option{remote.WithTransport(c.Transport()), remote.WithAuthFromKeychain(keychain), remote.WithContext(ctx)}

	copt := regtidy.ComposeOptions{Target: target, Template: tmpl, Fields: extra, Shard: shard, Keychain: keychain}
	if copt.Bases, copt.Match, err = cf.bases(o.stdin, args, nameOpts); err != nil {
		return err
	}
	if cf.baseRepo != "" {
		repo, err := name.NewRepository(cf.baseRepo, nameOpts...)
		if err != nil {
			return usageError(fmt.Errorf("--base-repo: %w", err))
		}
		copt.BaseRepo = &repo
	}
	layer, cleanup, err := cf.layer(ctx, nameOpts, ropts)
	if err != nil {
		return err
	}
	defer cleanup()
	opts.Layer = layer
	if cf.layerRepo != "" {
		if opts.LayerFrom, err = name.NewRepository(cf.layerRepo, nameOpts...); err != nil {
			return usageError(fmt.Errorf("--layer-repo: %w", err))
		}
	}
	opts.DryRun = cf.dryRun
	copt.Image = opts
	pr := o.newProgress()
	copt.Options = o.options(c, pr)
	rep, err := regtidy.Compose(ctx, copt)
	pr.wait()
	if rep != nil {
		err = o.writeResult(err, rep, func(w io.Writer) error { return regtidy.WriteComposeText(w, rep, cf.dryRun) })
	}
	switch {
	case errors.Is(err, compose.ErrIncomplete):
		return fmt.Errorf("%w: %w", errPartial, err)
	case errors.Is(err, regtidy.ErrInvalidOptions):
		return usageError(err)
	}
	return err
}

// imageOptions turns the config flags into compose options (Layer and clients come later).
func (cf *composeFlags) imageOptions() (compose.Options, error) {
	var opts compose.Options
	opts.Env = cf.env
	for _, kv := range cf.env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return opts, fmt.Errorf("--env %q: want K=V", kv)
		}
	}
	var err error
	if opts.Entrypoint, err = composeArgv("--entrypoint", cf.entrypoint); err != nil {
		return opts, err
	}
	if opts.Cmd, err = composeArgv("--cmd", cf.cmd); err != nil {
		return opts, err
	}
	opts.KeepAttestations = cf.keepAttestations
	opts.CreatedBy = cf.createdBy
	if opts.CreatedBy == "" {
		at := cf.at
		if at == "" {
			at = "/"
			if _, p, ok := strings.Cut(cf.layerFrom, ":/"); ok {
				at = "/" + p
			}
		}
		opts.CreatedBy = "COPY " + at + " (regtidy compose)"
	}
	switch {
	case cf.created != "":
		if sec, err := strconv.ParseInt(cf.created, 10, 64); err == nil {
			opts.Created = time.Unix(sec, 0)
		} else if opts.Created, err = time.Parse(time.RFC3339, cf.created); err != nil {
			return opts, fmt.Errorf("--created %q: want RFC 3339 or Unix seconds", cf.created)
		}
	default:
		t, set, err := compose.SourceDateEpoch()
		if err != nil {
			return opts, err
		}
		if set {
			opts.Created = t
		}
	}
	return opts, nil
}

// bases parses the explicit bases (arguments and --bases-file) and --base-match.
func (cf *composeFlags) bases(stdin io.Reader, args []string, nameOpts []name.Option) ([]name.Reference, *regexp.Regexp, error) {
	var match *regexp.Regexp
	if cf.baseMatch != "" {
		m, err := compose.CompileMatch(cf.baseMatch)
		if err != nil {
			return nil, nil, usageError(err)
		}
		match = m
	}
	refs := append([]string(nil), args...)
	if cf.basesFile != "" {
		r := stdin
		if cf.basesFile != "-" {
			f, err := os.Open(cf.basesFile)
			if err != nil {
				return nil, nil, err
			}
			defer f.Close()
			r = f
		}
		listed, err := compose.ParseBaseList(r)
		if err != nil {
			return nil, nil, fmt.Errorf("--bases-file: %w", err)
		}
		refs = append(refs, listed...)
	}
	var parsed []name.Reference
	for _, s := range refs {
		r, err := name.ParseReference(s, nameOpts...)
		if err != nil {
			return nil, nil, usageError(fmt.Errorf("base %q: %w", s, err))
		}
		parsed = append(parsed, r)
	}
	return parsed, match, nil
}

// layer builds or opens the shared layer the flags name. cleanup removes a built layer's file.
func (cf *composeFlags) layer(ctx context.Context, nameOpts []name.Option, ropts []remote.Option) (v1.Layer, func(), error) {
	var set []string
	for flag, v := range map[string]string{"--layer-dir": cf.layerDir, "--layer-tar": cf.layerTar, "--layer-from": cf.layerFrom, "--layer-file": cf.layerFile} {
		if v != "" {
			set = append(set, flag)
		}
	}
	if len(set) != 1 {
		return nil, nil, usageError(fmt.Errorf("compose: give exactly one of --layer-dir, --layer-tar, --layer-from, --layer-file (got %d)", len(set)))
	}
	if cf.layerFile != "" {
		l, err := tarball.LayerFromFile(cf.layerFile)
		return l, func() {}, err
	}
	mtime, _, err := compose.SourceDateEpoch()
	if err != nil {
		return nil, nil, usageError(err)
	}
	lopts := compose.LayerOptions{At: cf.at, ModTime: mtime, UID: cf.uid, GID: cf.gid}
	var src compose.Source
	switch {
	case cf.layerDir != "":
		src = compose.Dir(cf.layerDir)
	case cf.layerTar != "":
		src = compose.Tarball(cf.layerTar)
	default:
		src, lopts.At, err = layerFromImage(cf, nameOpts, ropts)
		if err != nil {
			return nil, nil, err
		}
	}
	l, err := compose.BuildLayer(ctx, src, lopts)
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() { l.Close() }
	if cf.saveLayer != "" {
		if err := saveLayer(l, cf.saveLayer); err != nil {
			cleanup()
			return nil, nil, err
		}
	}
	return l, cleanup, nil
}

// layerFromImage resolves --layer-from IMAGE:/PATH into a source and where its tree goes.
func layerFromImage(cf *composeFlags, nameOpts []name.Option, ropts []remote.Option) (compose.Source, string, error) {
	image, p, ok := strings.Cut(cf.layerFrom, ":/")
	if !ok || image == "" {
		return nil, "", usageError(fmt.Errorf("--layer-from %q: want IMAGE:/PATH", cf.layerFrom))
	}
	r, err := name.ParseReference(image, nameOpts...)
	if err != nil {
		return nil, "", usageError(fmt.Errorf("--layer-from: %w", err))
	}
	platform, err := v1.ParsePlatform(cf.layerPlatform)
	if err != nil {
		return nil, "", usageError(fmt.Errorf("--layer-platform: %w", err))
	}
	img, err := remote.Image(r, append(ropts, remote.WithPlatform(*platform))...)
	if err != nil {
		return nil, "", fmt.Errorf("--layer-from %s: %w", r, err)
	}
	at := cf.at
	if at == "" {
		at = "/" + p
	}
	return compose.ImagePath(img, "/"+p), at, nil
}

func saveLayer(l *compose.Layer, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--save-layer: %w", err)
	}
	if _, err := l.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("--save-layer: %w", err)
	}
	return f.Close()
}

// composeKeyValues parses repeated k=v flags.
func composeKeyValues(flag string, kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s %q: want name=value", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

// composeArgv parses --entrypoint/--cmd: a JSON array, one word, or nothing (nil: keep the base's).
func composeArgv(flag, s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	if !strings.HasPrefix(strings.TrimSpace(s), "[") {
		return []string{s}, nil
	}
	var argv []string
	if err := json.Unmarshal([]byte(s), &argv); err != nil {
		return nil, fmt.Errorf("%s %q: not a JSON array of strings: %w", flag, s, err)
	}
	return argv, nil
}
