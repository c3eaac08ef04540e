package casegen

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
)

// This file holds the names of the case: SWE-bench instances, commit0 repositories, branch names,
// and the tag shapes the agent-server build used, exactly as they appear in the real repository.

// SWE-bench's full test split: 2,294 instances over 12 Python repositories. The issue number ranges
// are the real ones' rough extents; the numbers themselves are drawn once from a fixed stream so the
// instance universe does not depend on the case's seed.
var swebenchRepos = []struct {
	owner, repo string
	count       int
	lo, hi      int
}{
	{"django", "django", 850, 5470, 17090},
	{"sympy", "sympy", 386, 11230, 24910},
	{"scikit-learn", "scikit-learn", 229, 10200, 26330},
	{"sphinx-doc", "sphinx", 187, 7440, 11510},
	{"matplotlib", "matplotlib", 184, 13900, 26470},
	{"pytest-dev", "pytest", 119, 5100, 11180},
	{"pydata", "xarray", 110, 2900, 7400},
	{"astropy", "astropy", 95, 6930, 16000},
	{"pylint-dev", "pylint", 57, 4330, 8900},
	{"psf", "requests", 44, 860, 6030},
	{"mwaskom", "seaborn", 22, 2380, 3410},
	{"pallets", "flask", 11, 4040, 5060},
}

// swebenchTotal is the number of instances in swebenchRepos.
const swebenchTotal = 2294

// famousInstances come first in every pool, so even the smallest case holds the tags docs/DESIGN.md
// quotes (django_1776_django-11099, astropy_1776_astropy-12907).
var famousInstances = []string{"django__django-11099", "astropy__astropy-12907"}

// commit0Repos are the commit0 benchmark's repositories (57), as they appear in tags.
var commit0Repos = []string{
	"tinydb", "minitorch", "simpy", "deprecated", "voluptuous", "cachetools", "imapclient",
	"marshmallow", "jinja", "cookiecutter", "portalocker", "pyjwt", "babel", "wcwidth", "chardet",
	"parsel", "dnspython", "virtualenv", "pydantic", "sqlparse", "attrs", "click", "tornado",
	"fabric", "paramiko", "networkx", "more-itertools", "jedi", "geopandas", "pexpect",
	"filesystem_spec", "mimesis", "bitstring", "loguru", "statsmodels", "joblib", "scrapy",
	"python-progressbar", "pyboy", "lifelines", "fastapi", "seaborn", "xarray", "sphinx", "pylint",
	"requests", "flask", "httpx", "rich", "typer", "arrow", "pendulum", "tqdm", "toolz", "pint",
	"blinker", "tenacity",
}

// buildBranches are the CI branch names that show up as buildcache tag suffixes.
var buildBranches = []string{
	"fix-condenser-loop", "feat-browser-tool", "openhands-refactor-llm", "xw-async-conversation",
	"rel-1-2", "deps-bump-litellm", "hotfix-ws-timeout", "ci-cache-keys",
}

// Tag shape parts.
const (
	swebPrefix       = "sweb.eval.x86_64."
	targetSource     = "source-minimal"
	targetBinary     = "binary"
	pythonNodeSlug   = "nikolaik_s_python-nodejs_tag_python3.12-nodejs22"
	buildcachePrefix = "buildcache-"
	slugMaxLen       = 64
)

// swebenchUniverse returns all 2,294 instance ids ("django__django-11099") in a fixed order.
func swebenchUniverse() []string {
	r := rand.New(rand.NewPCG(2294, 1776))
	out := make([]string, 0, swebenchTotal)
	for _, sr := range swebenchRepos {
		seen := map[int]bool{}
		var nums []int
		for _, f := range famousInstances {
			if p, n, ok := strings.Cut(f, "-"); ok && p == sr.owner+"__"+sr.repo {
				var num int
				fmt.Sscanf(n, "%d", &num)
				seen[num] = true
				nums = append(nums, num)
			}
		}
		for len(nums) < sr.count {
			n := sr.lo + r.IntN(sr.hi-sr.lo)
			if !seen[n] {
				seen[n] = true
				nums = append(nums, n)
			}
		}
		for _, n := range nums {
			out = append(out, fmt.Sprintf("%s__%s-%d", sr.owner, sr.repo, n))
		}
	}
	return out
}

// dockerInstance turns a SWE-bench instance id into its Docker form: "__" becomes "_1776_".
func dockerInstance(id string) string {
	return strings.Replace(id, "__", "_1776_", 1)
}

// swebSlug is the base-image slug the older agent-server build derived from
// "docker.io/swebench/sweb.eval.x86_64.<inst>:latest": "/" became "_s_", ":" became "_tag_", and
// a slug over 64 characters kept its tag part, cut the last path component to fit, and appended
// the first 12 hex digits of the full slug's SHA-256. For django_1776_django-11099 this yields
// the docs/DESIGN.md example "sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0".
func swebSlug(inst string) string {
	full := "docker.io_s_swebench_s_" + swebPrefix + inst + "_tag_latest"
	if len(full) <= slugMaxLen {
		return full
	}
	sum := sha256.Sum256([]byte(full))
	suffix := "-" + hex.EncodeToString(sum[:])[:12]
	tagPart := "_tag_latest"
	name := swebPrefix + inst
	if keep := slugMaxLen - len(suffix) - len(tagPart); len(name) > keep {
		name = name[:keep]
	}
	return name + tagPart + suffix
}

// Image schemes: how the SDK build named per-commit SWE-bench images over time.
const (
	// SchemeTagLatest is the oldest: "{sdk7}-sweb.eval.x86_64.<slug>-source-minimal" where the slug
	// ends in "_tag_latest-<12hex>".
	SchemeTagLatest = "tag-latest"
	// SchemePlain is the middle one: "{sdk7}-sweb.eval.x86_64.<instance>-source-minimal".
	SchemePlain = "plain"
	// SchemeCurrent adds the Dockerfile hash: "{sdk7}-{df7}-sweb.eval.x86_64.<instance>-source-minimal".
	SchemeCurrent = "current"
)

// Benchmarks of the case, as CaseTag.Bench names them.
const (
	BenchSWEBench     = "swebench"
	BenchCommit0      = "commit0"
	BenchGAIA         = "gaia"
	BenchPythonNodeJS = "python-nodejs"
)

// imageTagName returns the tag of a per-commit image.
func imageTagName(sdk7, df7, bench, group, scheme string) string {
	switch bench {
	case BenchSWEBench:
		switch scheme {
		case SchemeTagLatest:
			return sdk7 + "-" + swebSlug(group) + "-" + targetSource
		case SchemePlain:
			return sdk7 + "-" + swebPrefix + group + "-" + targetSource
		default:
			return sdk7 + "-" + df7 + "-" + swebPrefix + group + "-" + targetSource
		}
	case BenchCommit0:
		return sdk7 + "-" + df7 + "-commit0-" + group + "-" + targetSource
	case BenchGAIA:
		return sdk7 + "-gaia-" + targetBinary
	default:
		return sdk7 + "-" + pythonNodeSlug
	}
}

// buildTargets are the build targets a buildcache tag may name (CaseSpec.BuildcacheTargets): the
// targets the case's images are built for.
var buildTargets = []string{targetSource, targetBinary}

// buildcacheTagName returns "buildcache-<target>-<slug>[-<branch>]", e.g.
// "buildcache-source-minimal-sweb.eval.x86_64.django_1776_django-1109_tag_latest-06043de4faf0-main".
func buildcacheTagName(target, inst, branch string) string {
	name := buildcachePrefix + target + "-" + swebSlug(inst)
	if branch != "" {
		name += "-" + branch
	}
	return name
}

// baseTagName returns the eval-base tag "{df7}-sweb.eval.x86_64.<instance>".
func baseTagName(df7, inst string) string {
	return df7 + "-" + swebPrefix + inst
}

// legacyTagNames returns "v1.0.0" and n-1 release candidates "v1.0.0-rc1", "v1.0.0-rc2", ...
// oldest first, the final release last.
func legacyTagNames(n int) []string {
	out := make([]string, 0, n)
	for i := 1; i < n; i++ {
		out = append(out, fmt.Sprintf("v1.0.0-rc%d", i))
	}
	return append(out, "v1.0.0")
}

// seededHex returns n lowercase hex digits derived from the seed and the parts.
func seededHex(seed int64, n int, parts ...any) string {
	h := sha256.New()
	fmt.Fprintf(h, "regtest/%d", seed)
	for _, p := range parts {
		fmt.Fprintf(h, "/%v", p)
	}
	s := hex.EncodeToString(h.Sum(nil))
	for len(s) < n {
		sum := sha256.Sum256([]byte(s))
		s += hex.EncodeToString(sum[:])
	}
	return s[:n]
}

// newRand returns a PCG stream for one aspect of the case, so that changing how one aspect draws
// numbers does not shift the others.
func newRand(seed int64, aspect string) *rand.Rand {
	sum := sha256.Sum256([]byte(aspect))
	var k uint64
	for _, b := range sum[:8] {
		k = k<<8 | uint64(b)
	}
	return rand.New(rand.NewPCG(uint64(seed), k))
}
