package regtest

import (
	"context"
	"net/http"
	"time"

	"github.com/regtidy/regtidy/internal/casegen"
)

// World is the case's whole environment (see casegen.World) with the distribution v3 registry
// that serves it, running in this process.
type World struct {
	*casegen.World
	Registry *Registry
}

// WorldSpec says what NewWorld makes: the world (as casegen.WorldSpec) and how its registry runs.
type WorldSpec struct {
	// Dir is where the world lives; it must exist and be empty.
	Dir string
	// Scale, Seed and Referrers are as in casegen.CaseSpec.
	Scale     float64
	Seed      int64
	Referrers int
	// Now is the world's present; zero means casegen.DefaultCaseNow.
	Now time.Time
	// Storage, if set, is the registry's filesystem storage directory; empty means in memory.
	Storage string
	// BaseRepository, if set, also gets the eval-base images (see casegen.CaseSpec.BaseRepository).
	BaseRepository string
	// Wrap wraps the registry's handler (fault injection in tests).
	Wrap func(h http.Handler) http.Handler
	// Progress reports pushes, as casegen.CaseSpec.Progress.
	Progress func(done, total int)
}

// NewWorld starts a distribution v3 registry on 127.0.0.1 and makes the world in it (see
// casegen.MakeWorld). Close the world when done.
func NewWorld(ctx context.Context, spec WorldSpec) (*World, error) {
	reg, err := Start(ctx, Options{Dir: spec.Storage, Wrap: spec.Wrap})
	if err != nil {
		return nil, err
	}
	w, err := casegen.MakeWorld(ctx, reg.Host, casegen.WorldSpec{
		Dir: spec.Dir, Scale: spec.Scale, Seed: spec.Seed, Referrers: spec.Referrers, Now: spec.Now,
		BaseRepository: spec.BaseRepository, Progress: spec.Progress,
	})
	if err != nil {
		reg.Close()
		return nil, err
	}
	return &World{World: w, Registry: reg}, nil
}

// Close stops the registry. The directory stays; its owner removes it.
func (w *World) Close() error { return w.Registry.Close() }
