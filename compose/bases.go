package compose

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Base is one base image to compose on, and the template fields its tag yields.
type Base struct {
	// Ref names the base: a tag (usually) or a digest.
	Ref name.Reference
	// Fields are the named groups of the --base-match expression, plus "tag" (the base's tag or
	// digest). Never nil.
	Fields map[string]string
}

// Job is one composition: a base and the tag its thin image gets.
type Job struct {
	Base   Base
	Target name.Tag
}

// CompileMatch compiles a --base-match expression so that it must match a whole tag: "a.*" matches
// "a-1" but not "xa-1". Its named groups become template fields.
func CompileMatch(expr string) (*regexp.Regexp, error) {
	re, err := regexp.Compile(`^(?:` + expr + `)$`)
	if err != nil {
		return nil, fmt.Errorf("--base-match: %w", err)
	}
	return re, nil
}

// MatchTags returns a Base for each tag of repo that re matches (nil re: every tag), sorted by tag.
func MatchTags(repo name.Repository, tags []string, re *regexp.Regexp) []Base {
	var out []Base
	for _, tag := range tags {
		fields, ok := matchFields(re, tag)
		if !ok {
			continue
		}
		out = append(out, Base{Ref: repo.Tag(tag), Fields: fields})
	}
	slices.SortFunc(out, func(a, b Base) int { return strings.Compare(a.Ref.Identifier(), b.Ref.Identifier()) })
	return out
}

// ListBases lists repo's tags and returns those re matches (see MatchTags). It asks for every tag
// in one response first (no page size: distribution answers 133k tags in under two seconds, while
// its pages re-read the whole tag directory each), and falls back to pages of 1,000 only if the
// registry refuses the unpaged request.
func ListBases(ctx context.Context, repo name.Repository, re *regexp.Regexp, opts ...remote.Option) ([]Base, error) {
	opts = append(slices.Clip(opts), remote.WithContext(ctx))
	tags, err := remote.List(repo, append(opts, remote.WithPageSize(0))...)
	if err != nil && ctx.Err() == nil && pagingMightHelp(err) {
		tags, err = remote.List(repo, append(opts, remote.WithPageSize(1000))...)
	}
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", repo, err)
	}
	return MatchTags(repo, tags, re), nil
}

// pagingMightHelp reports whether a failed unpaged listing is worth retrying with pages: not when
// the repository is missing or the credentials were refused.
func pagingMightHelp(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		switch terr.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
			return false
		}
	}
	return true
}

// ParseBaseList reads base references, one per line; blank lines and lines starting with '#' are
// skipped.
func ParseBaseList(r io.Reader) ([]string, error) {
	var refs []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		refs = append(refs, line)
	}
	return refs, sc.Err()
}

// BasesFromRefs turns explicit references into bases. With re set, every reference's tag must
// match it (an explicit base that does not is an error, not silently skipped), and its groups
// become fields. Duplicates are dropped; the order is kept.
func BasesFromRefs(refs []name.Reference, re *regexp.Regexp) ([]Base, error) {
	seen := map[string]bool{}
	var out []Base
	for _, ref := range refs {
		if seen[ref.Name()] {
			continue
		}
		seen[ref.Name()] = true
		fields, ok := matchFields(re, ref.Identifier())
		if !ok {
			return nil, fmt.Errorf("%w: %s", ErrNoMatch, ref)
		}
		out = append(out, Base{Ref: ref, Fields: fields})
	}
	return out, nil
}

func matchFields(re *regexp.Regexp, tag string) (map[string]string, bool) {
	fields := map[string]string{"tag": tag}
	if re == nil {
		return fields, true
	}
	m := re.FindStringSubmatch(tag)
	if m == nil {
		return nil, false
	}
	for i, group := range re.SubexpNames() {
		if group != "" {
			fields[group] = m[i]
		}
	}
	return fields, true
}

// Template is a target tag template: text with {field} placeholders, e.g.
// "{sdk}-{df}-{custom}-source-minimal".
type Template struct {
	text   string
	fields []string
}

var placeholder = regexp.MustCompile(`\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ParseTemplate parses a tag template. Braces must form {name} placeholders.
func ParseTemplate(text string) (Template, error) {
	if text == "" {
		return Template{}, fmt.Errorf("%w: empty", ErrTemplate)
	}
	rest := placeholder.ReplaceAllString(text, "")
	if strings.ContainsAny(rest, "{}") {
		return Template{}, fmt.Errorf("%w: %q: braces must enclose a field name", ErrTemplate, text)
	}
	var fields []string
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(fields, m[1]) {
			fields = append(fields, m[1])
		}
	}
	return Template{text: text, fields: fields}, nil
}

// Fields returns the names the template uses, in order of first use.
func (t Template) Fields() []string { return slices.Clone(t.fields) }

// String returns the template's text.
func (t Template) String() string { return t.text }

// Expand fills the placeholders from fields. A field the template names and fields lacks is an
// error.
func (t Template) Expand(fields map[string]string) (string, error) {
	var missing []string
	out := placeholder.ReplaceAllStringFunc(t.text, func(m string) string {
		v, ok := fields[m[1:len(m)-1]]
		if !ok {
			missing = append(missing, m)
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%w: %q: no value for %s", ErrTemplate, t.text, strings.Join(missing, ", "))
	}
	return out, nil
}

// Jobs maps each base to its target tag in repo: the template expanded with the base's fields and
// the given extra fields (--field k=v; a name both give is an error). Two bases mapping to one tag
// is an error, as is a tag the registry would refuse.
func Jobs(bases []Base, repo name.Repository, tmpl Template, extra map[string]string) ([]Job, error) {
	jobs := make([]Job, 0, len(bases))
	owner := map[string]string{}
	for _, b := range bases {
		fields := maps.Clone(b.Fields)
		if fields == nil {
			fields = map[string]string{}
		}
		for k, v := range extra {
			if _, dup := fields[k]; dup {
				return nil, fmt.Errorf("%w: %q (from the base tag and from a flag)", ErrFieldConflict, k)
			}
			fields[k] = v
		}
		tag, err := tmpl.Expand(fields)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.Ref, err)
		}
		if _, err := name.NewTag(repo.Name()+":"+tag, name.StrictValidation); err != nil {
			return nil, fmt.Errorf("%s: target tag %q: %w", b.Ref, tag, err)
		}
		target := repo.Tag(tag) // keeps repo's scheme (plain HTTP for --insecure)
		if prev, dup := owner[tag]; dup {
			return nil, fmt.Errorf("%w: %s and %s both give %q", ErrDuplicateTarget, prev, b.Ref, tag)
		}
		owner[tag] = b.Ref.String()
		jobs = append(jobs, Job{Base: b, Target: target})
	}
	return jobs, nil
}
