// Command bench measures regtidy against the tools users have today, on the embedded registry
// filled in the shape of the case, and prints Markdown for BENCHMARKS.md. Every server it talks to
// runs on 127.0.0.1 in this process; every loop is bounded by the case's size.
//
//	go run ./internal/bench report --scale 1 --dir /var/tmp/regtidy-bench
//	go run ./internal/bench serve --scale 1 --dir /var/tmp/regtidy-bench   (serve it for runs by hand)
//	go run ./internal/bench memory --scale 1 --dir /var/tmp/regtidy-world  (peak memory of report, plan, apply, undo)
//
// regtidy itself runs as a subprocess (built from this checkout), so its peak memory is its own.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var err error
	switch os.Args[1] {
	case "report":
		err = benchReport(ctx, os.Args[2:])
	case "ghcr":
		err = benchGHCR(ctx, os.Args[2:])
	case "ghcr-nights":
		err = benchNights(ctx, os.Args[2:])
	case "serve":
		err = benchServe(ctx, os.Args[2:])
	case "memory":
		err = benchMemory(ctx, os.Args[2:])
	case "peak":
		err = benchPeak(ctx, os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bench report|ghcr|ghcr-nights|serve|memory|peak [flags]")
	os.Exit(2)
}

// machine describes the machine for the record.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		mem = strings.Fields(strings.SplitN(string(b), "\n", 2)[0])[1] + " kB RAM"
	}
	return fmt.Sprintf("%d cores (%s), %s, %s %s/%s", runtime.NumCPU(), cpu, mem, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func newFlags(name string) *flag.FlagSet {
	return flag.NewFlagSet(name, flag.ExitOnError)
}
