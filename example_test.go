package regtidy_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/regtidy/regtidy"
	"github.com/regtidy/regtidy/compose"
	"github.com/regtidy/regtidy/plan"
	"github.com/regtidy/regtidy/registry"
)

// Inventory lists a repository: here one on an in-memory registry holding two tags.
func ExampleInventory() {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	repo := strings.TrimPrefix(srv.URL, "http://") + "/team/app"
	img, _ := random.Image(64, 1)
	for _, tag := range []string{"v1", "v2"} {
		ref, _ := name.NewTag(repo + ":" + tag)
		if err := remote.Write(ref, img); err != nil {
			log.Fatal(err)
		}
	}
	l, err := regtidy.Inventory(context.Background(), repo, regtidy.InventoryOptions{Options: regtidy.Options{NoCache: true}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(l.Inventory.Tags), "tags")
	// Output: 2 tags
}

// Report measures a repository, the tags classified by a policy's tag scheme.
func ExampleReport() {
	ctx := context.Background()
	res, err := regtidy.Report(ctx, "registry.example/team/app", regtidy.ReportOptions{})
	if err != nil {
		log.Fatal(err)
	}
	res.Report.WriteTable(os.Stdout) //nolint:errcheck // example
}

// Plan evaluates a retention policy; the plan file is what Apply carries out.
func ExamplePlan() {
	ctx := context.Background()
	p, err := regtidy.Plan(ctx, "registry.example/team/app", regtidy.PlanOptions{PolicyFile: "policy.yaml"})
	if err != nil {
		log.Fatal(err)
	}
	if err := p.WriteFile("plan.json"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(p.Summary.DeletedManifests, "manifests to delete")
}

// Apply carries a plan out, journaled for Undo; a run stopped by a cap or a budget continues
// when run again.
func ExampleApply() {
	ctx := context.Background()
	p, err := plan.Read("plan.json")
	if err != nil {
		log.Fatal(err)
	}
	opt := regtidy.ApplyOptions{Journal: "plan.journal.jsonl", MaxDeletes: 500}
	opt.Client = registry.New(registry.WithConcurrency(16))
	res, err := regtidy.Apply(ctx, p, opt)
	if res != nil {
		res.WriteText(os.Stdout) //nolint:errcheck // example
	}
	if regtidy.IsPartial(err) {
		fmt.Println("run it again to continue")
	} else if err != nil {
		log.Fatal(err)
	}
}

// Undo puts back what an apply deleted, from its journal.
func ExampleUndo() {
	res, err := regtidy.Undo(context.Background(), "plan.journal.jsonl", regtidy.UndoOptions{})
	if err != nil && !regtidy.IsPartial(err) {
		log.Fatal(err)
	}
	res.WriteText(os.Stdout) //nolint:errcheck // example
}

// Verify checks that a plan's kept tags still resolve whole after apply and garbage collection.
func ExampleVerify() {
	p, err := plan.Read("plan.json")
	if err != nil {
		log.Fatal(err)
	}
	res, err := regtidy.Verify(context.Background(), p.Repository, regtidy.VerifyOptions{Plan: p})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("whole:", res.OK())
}

// Compose puts one shared layer on every base image a pattern selects, in the registry.
func ExampleCompose() {
	ctx := context.Background()
	base, _ := name.NewRepository("registry.example/team/base")
	target, _ := name.NewRepository("registry.example/team/app")
	match, _ := compose.CompileMatch(`(?P<df>[0-9a-f]{7})-(?P<custom>.+)`)
	tmpl, _ := compose.ParseTemplate("{sdk}-{df}-{custom}")
	layer, err := compose.BuildLayer(ctx, compose.Dir("./build"), compose.LayerOptions{At: "/app"})
	if err != nil {
		log.Fatal(err)
	}
	defer layer.Close()
	rep, err := regtidy.Compose(ctx, regtidy.ComposeOptions{
		BaseRepo: &base, Match: match, Target: target, Template: tmpl,
		Fields: map[string]string{"sdk": "c0ffee1"},
		Image:  compose.Options{Layer: layer},
	})
	if err != nil {
		log.Fatal(err)
	}
	regtidy.WriteComposeText(os.Stdout, rep, false) //nolint:errcheck // example
}
