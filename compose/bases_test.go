package compose

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy/internal/regtest"
)

// sweMatch is the --base-match of the case: eval-base tags "{df7}-{instance}".
const sweMatch = `(?P<df>[0-9a-f]{7})-(?P<custom>sweb\.eval\..+)`

func TestTemplate(t *testing.T) {
	fields := map[string]string{"sdk": "abc1234", "df": "0fe1ebf", "custom": "sweb.eval.x86_64.django_1776_django-11099"}
	for _, tc := range []struct {
		text, want string
		wantErr    error
	}{
		{text: "{sdk}-{df}-{custom}-source-minimal", want: "abc1234-0fe1ebf-sweb.eval.x86_64.django_1776_django-11099-source-minimal"},
		{text: "{sdk}-{sdk}", want: "abc1234-abc1234"},
		{text: "latest", want: "latest"},
		{text: "{sdk}-{missing}", wantErr: ErrTemplate},
		{text: "{sdk", wantErr: ErrTemplate},
		{text: "{}", wantErr: ErrTemplate},
		{text: "", wantErr: ErrTemplate},
	} {
		t.Run(tc.text, func(t *testing.T) {
			tmpl, err := ParseTemplate(tc.text)
			var got string
			if err == nil {
				got, err = tmpl.Expand(fields)
			}
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Fatalf("got %q, %v; want %q, %v", got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestMatchTagsAndJobs(t *testing.T) {
	base, _ := name.NewRepository("ghcr.io/openhands/eval-base")
	target, _ := name.NewRepository("ghcr.io/openhands/eval-agent-server")
	re, err := CompileMatch(sweMatch)
	if err != nil {
		t.Fatal(err)
	}
	tags := []string{
		"0fe1ebf-sweb.eval.x86_64.django_1776_django-11099",
		"buildcache-source-minimal",
		"x0fe1ebf-sweb.eval.x86_64.astropy_1776_astropy-12907", // the expression must match the whole tag
		"1a2b3c4-sweb.eval.x86_64.astropy_1776_astropy-12907",
	}
	bases := MatchTags(base, tags, re)
	var got []map[string]string
	for _, b := range bases {
		got = append(got, b.Fields)
	}
	want := []map[string]string{
		{"tag": tags[0], "df": "0fe1ebf", "custom": "sweb.eval.x86_64.django_1776_django-11099"},
		{"tag": tags[3], "df": "1a2b3c4", "custom": "sweb.eval.x86_64.astropy_1776_astropy-12907"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("fields (-want +got):\n%s", diff)
	}

	tmpl, _ := ParseTemplate("{sdk}-{df}-{custom}-source-minimal")
	jobs, err := Jobs(bases, target, tmpl, map[string]string{"sdk": "abc1234"})
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, j := range jobs {
		targets = append(targets, j.Target.String())
	}
	wantTargets := []string{
		"ghcr.io/openhands/eval-agent-server:abc1234-0fe1ebf-sweb.eval.x86_64.django_1776_django-11099-source-minimal",
		"ghcr.io/openhands/eval-agent-server:abc1234-1a2b3c4-sweb.eval.x86_64.astropy_1776_astropy-12907-source-minimal",
	}
	if diff := cmp.Diff(wantTargets, targets); diff != "" {
		t.Errorf("targets (-want +got):\n%s", diff)
	}

	for _, tc := range []struct {
		name  string
		tmpl  string
		extra map[string]string
		want  error
	}{
		{"field from flag and group", "{df}", map[string]string{"df": "x"}, ErrFieldConflict},
		{"two bases one tag", "{sdk}", map[string]string{"sdk": "abc1234"}, ErrDuplicateTarget},
		{"missing field", "{sdk}-{df}", nil, ErrTemplate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, _ := ParseTemplate(tc.tmpl)
			if _, err := Jobs(bases, target, tmpl, tc.extra); !errors.Is(err, tc.want) {
				t.Fatalf("Jobs error = %v, want %v", err, tc.want)
			}
		})
	}
	tooLong, _ := ParseTemplate(strings.Repeat("x", 129))
	if _, err := Jobs(bases[:1], target, tooLong, nil); err == nil {
		t.Error("Jobs accepted a 129-character tag")
	}
}

func TestBasesFromRefsAndList(t *testing.T) {
	refs, err := ParseBaseList(strings.NewReader(`
# eval bases
ghcr.io/openhands/eval-base:0fe1ebf-sweb.eval.x86_64.django_1776_django-11099

ghcr.io/openhands/eval-base:1a2b3c4-sweb.eval.x86_64.astropy_1776_astropy-12907
ghcr.io/openhands/eval-base:0fe1ebf-sweb.eval.x86_64.django_1776_django-11099
`))
	if err != nil {
		t.Fatal(err)
	}
	var parsed []name.Reference
	for _, r := range refs {
		p, err := name.ParseReference(r)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, p)
	}
	re, _ := CompileMatch(sweMatch)
	bases, err := BasesFromRefs(parsed, re)
	if err != nil {
		t.Fatal(err)
	}
	if len(bases) != 2 || bases[1].Fields["df"] != "1a2b3c4" {
		t.Errorf("bases = %v, want the two distinct references with their fields", bases)
	}
	other, _ := name.ParseReference("ghcr.io/openhands/eval-base:latest")
	if _, err := BasesFromRefs([]name.Reference{other}, re); !errors.Is(err, ErrNoMatch) {
		t.Errorf("a reference the expression does not match: error %v, want ErrNoMatch", err)
	}
}

func TestListBasesAsksUnpaged(t *testing.T) {
	reg := startRegistry(t, regtest.Options{MaxTags: 2})
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		tag := fmt.Sprintf("%07x-sweb.eval.x86_64.repo-%d", 0xabc0000+i, i)
		push(t, ref(t, reg, "eval-base:"+tag), img)
		want = append(want, reg.Host+"/eval-base:"+tag)
	}
	push(t, ref(t, reg, "eval-base:latest"), img)

	rec := newRecorder()
	re, _ := CompileMatch(sweMatch)
	bases, err := ListBases(context.Background(), repo(t, reg, "eval-base"), re, remote.WithTransport(rec))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, b := range bases {
		got = append(got, b.Ref.String())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bases (-want +got):\n%s", diff)
	}
	var lists int
	for _, q := range rec.requests() {
		if strings.HasSuffix(q.Path, "/tags/list") {
			lists++
			if q.Query.Has("n") {
				t.Errorf("tags/list asked with n=%s, want unpaged", q.Query.Get("n"))
			}
		}
	}
	if lists != 1 {
		t.Errorf("%d tags/list requests, want 1", lists)
	}
}

func TestShardCoversEveryBaseOnce(t *testing.T) {
	var bases []Base
	for i := range 2294 {
		r, err := name.ParseReference(fmt.Sprintf("ghcr.io/openhands/eval-base:%07x-sweb.eval.x86_64.inst-%d", i*7919, i))
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, Base{Ref: r})
	}
	for _, n := range []int{1, 2, 3, 7, 16, 64} {
		seen := map[string]int{}
		smallest, largest := len(bases), 0
		for i := 1; i <= n; i++ {
			s, err := ParseShard(fmt.Sprintf("%d/%d", i, n))
			if err != nil {
				t.Fatal(err)
			}
			part := s.Select(bases)
			smallest, largest = min(smallest, len(part)), max(largest, len(part))
			for _, b := range part {
				seen[b.Ref.String()]++
			}
		}
		for _, b := range bases {
			if seen[b.Ref.String()] != 1 {
				t.Fatalf("n=%d: %s is in %d shards, want exactly 1", n, b.Ref, seen[b.Ref.String()])
			}
		}
		if mean := len(bases) / n; n > 1 && (smallest < mean/2 || largest > mean*3/2+1) {
			t.Errorf("n=%d: shard sizes from %d to %d around a mean of %d: badly balanced", n, smallest, largest, mean)
		}
	}

	// The registry host does not move a base between shards.
	a, _ := name.ParseReference("localhost:5000/eval-base:abc")
	b, _ := name.ParseReference("127.0.0.1:5000/eval-base:abc")
	if Of(a, 13) != Of(b, 13) {
		t.Errorf("the same repository and tag on two host spellings landed in shards %d and %d", Of(a, 13), Of(b, 13))
	}
}

func TestParseShard(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Shard
		wantErr bool
	}{
		{in: "", want: Shard{}},
		{in: "1/1", want: Shard{1, 1}},
		{in: "3/8", want: Shard{3, 8}},
		{in: "0/8", wantErr: true},
		{in: "9/8", wantErr: true},
		{in: "1/0", wantErr: true},
		{in: "2", wantErr: true},
		{in: "a/b", wantErr: true},
	} {
		got, err := ParseShard(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("ParseShard(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
		if err != nil && !errors.Is(err, ErrBadShard) {
			t.Errorf("ParseShard(%q) error %v does not wrap ErrBadShard", tc.in, err)
		}
		if err == nil && got.String() != tc.in {
			t.Errorf("Shard(%q).String() = %q", tc.in, got.String())
		}
	}
}
