// Command pulumi-language-python is the language host that lets the Pulumi CLI run Python programs, Automation
// API local programs and Python policy packs.
//
// The CLI starts it as a plugin: it passes its own logging flags and, as the only positional argument, the address
// of the engine's gRPC server. The host answers on a loopback port that it prints as the first line of stdout, and
// runs each program through the `pulumi-language-python-exec` script from the Pulumi Python SDK, with the
// interpreter of the virtual environment named by the project's `virtualenv` runtime option.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
)

// engineHealthInterval is how often the host checks that the engine is still alive. A CLI that dies without
// killing its plugins would otherwise leave this process serving forever.
const engineHealthInterval = 5 * time.Minute

func main() {
	if err := serve(); err != nil {
		fmt.Fprintf(os.Stderr, "pulumi-language-python: %v\n", err)
		os.Exit(1)
	}
}

func serve() error {
	tracing := flag.String("tracing", "", "Zipkin-compatible tracing endpoint, passed on to the program")
	executor := flag.String("use-executor", "",
		"Path of the pulumi-language-python-exec script (default: next to this binary, then PATH)")
	// Older CLIs passed project settings as flags; each request now carries them, so these are accepted and
	// ignored to keep such CLIs able to start the host.
	flag.String("virtualenv", "", "obsolete: the virtualenv comes from the project's runtime options")
	flag.String("root", "", "obsolete: the project root comes from each request")
	flag.String("typechecker", "", "obsolete: the typechecker comes from the project's runtime options")
	flag.String("toolchain", "", "obsolete: the toolchain comes from the project's runtime options")
	flag.Parse()
	logging.InitLogging(false, 0, false)

	var engineAddress string
	if flag.NArg() > 0 {
		engineAddress = flag.Arg(0)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cancel := make(chan bool)
	go func() {
		<-ctx.Done()
		close(cancel)
	}()

	if engineAddress != "" {
		if err := rpcutil.Healthcheck(ctx, engineAddress, engineHealthInterval, stop); err != nil {
			return fmt.Errorf("could not watch the engine at %s: %w", engineAddress, err)
		}
	}

	host := newLanguageHost(engineAddress, *executor, *tracing)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		return fmt.Errorf("could not start the language host gRPC server: %w", err)
	}

	// The CLI reads exactly one line from stdout to learn where to connect.
	fmt.Printf("%d\n", handle.Port)

	if err := <-handle.Done; err != nil {
		return fmt.Errorf("language host stopped serving: %w", err)
	}
	return nil
}
