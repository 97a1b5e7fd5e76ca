package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/protobuf/types/known/emptypb"
)

const (
	execScriptName = "pulumi-language-python-exec"

	// exitCodeErrorShown is how pulumi-language-python-exec says "the program failed and I already told the user
	// why"; the engine must then not add a second, less useful error.
	exitCodeErrorShown = 32
)

// languageHost serves the LanguageRuntime gRPC service. Code generation, templates, packing and linking are not
// needed to run programs and stay unimplemented.
type languageHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	mu            sync.Mutex
	engineAddress string
	executor      string
	tracing       string
}

func newLanguageHost(engineAddress, executor, tracing string) *languageHost {
	return &languageHost{engineAddress: engineAddress, executor: executor, tracing: tracing}
}

func (h *languageHost) engine() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.engineAddress
}

// Handshake is how an engine that attached to an already running host (PULUMI_DEBUG_LANGUAGES) tells it where
// the engine is; a host the CLI started got the address on its command line.
func (h *languageHost) Handshake(
	_ context.Context, req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if addr := req.GetEngineAddress(); addr != "" {
		h.engineAddress = addr
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *languageHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: pluginVersion()}, nil
}

// execScript locates pulumi-language-python-exec: the -use-executor flag, then next to this binary (where the
// SDK's release archives put it), then PATH.
func (h *languageHost) execScript() (string, error) {
	if h.executor != "" {
		return h.executor, nil
	}
	var dirs []string
	if self, err := os.Executable(); err == nil {
		dirs = append(dirs, filepath.Dir(self))
	}
	if strings.ContainsRune(os.Args[0], os.PathSeparator) {
		// Invoked through a symlink: the script may sit next to the link rather than the target.
		dirs = append(dirs, filepath.Dir(os.Args[0]))
	}
	for _, dir := range dirs {
		candidate := filepath.Join(dir, execScriptName)
		if info, err := os.Stat(candidate); err == nil && !info.IsDir() {
			return candidate, nil
		}
	}
	if path, err := exec.LookPath(execScriptName); err == nil {
		return path, nil
	}
	return "", fmt.Errorf("cannot find %s next to the language host (%s) or on PATH; copy it there from "+
		"python/cmd/ of the github.com/pulumi/pulumi/sdk/v3 Go module, or pass -use-executor PATH",
		execScriptName, strings.Join(dirs, ", "))
}

func (h *languageHost) GetRequiredPackages(
	ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	project, err := projectFromInfo(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	packages, err := project.requiredPackages(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: packages}, nil
}

// GetRequiredPlugins serves CLIs older than GetRequiredPackages.
func (h *languageHost) GetRequiredPlugins(
	ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	info := req.GetInfo()
	if info == nil {
		// An old CLI sends only the deprecated fields.
		info = &pulumirpc.ProgramInfo{RootDirectory: req.GetPwd(), ProgramDirectory: req.GetPwd(),
			EntryPoint: req.GetProgram()}
	}
	project, err := projectFromInfo(ctx, info)
	if err != nil {
		return nil, err
	}
	packages, err := project.requiredPackages(ctx)
	if err != nil {
		return nil, err
	}
	plugins := make([]*pulumirpc.PluginDependency, 0, len(packages))
	for _, p := range packages {
		if p.GetParameterization() != nil {
			// A parameterized package cannot be expressed as a bare plugin; the engine loads it on demand.
			continue
		}
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Name: p.GetName(), Kind: p.GetKind(), Version: p.GetVersion(), Server: p.GetServer(),
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

// runArguments builds the command line of pulumi-language-python-exec.
func (h *languageHost) runArguments(req *pulumirpc.RunRequest, engine string) []string {
	var args []string
	add := func(flag, value string) {
		if value != "" {
			args = append(args, "--"+flag, value)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("project", req.GetProject())
	add("root_directory", req.GetInfo().GetRootDirectory())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("tracing", h.tracing)
	add("organization", req.GetOrganization())

	entry := req.GetInfo().GetEntryPoint()
	if entry == "" {
		entry = "."
	}
	args = append(args, entry)
	return append(args, req.GetArgs()...)
}

// configEnviron encodes the stack configuration the way the Python SDK reads it back
// (pulumi.runtime.get_config_env and get_config_secret_keys_env).
func configEnviron(req *pulumirpc.RunRequest) ([]string, error) {
	config := req.GetConfig()
	if config == nil {
		config = map[string]string{}
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return nil, fmt.Errorf("encoding the stack configuration: %w", err)
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretsJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, fmt.Errorf("encoding the secret configuration keys: %w", err)
	}
	return []string{"PULUMI_CONFIG=" + string(configJSON), "PULUMI_CONFIG_SECRET_KEYS=" + string(secretsJSON)}, nil
}

// Run executes the program. Its stdout and stderr go to the host's own, which the CLI shows as the program's
// output; resource registrations, logs and errors travel over gRPC between the program and the engine.
func (h *languageHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	if req.GetAttachDebugger() {
		return &pulumirpc.RunResponse{Error: "this Python language host does not support attaching a debugger; " +
			"run without --attach-debugger"}, nil
	}
	engine := h.engine()
	if engine == "" {
		return nil, errors.New("the language host does not know the engine address: start it with the address " +
			"as its argument, or call Handshake before Run")
	}
	project, err := projectFromInfo(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	script, err := h.execScript()
	if err != nil {
		return nil, err
	}
	configEnv, err := configEnviron(req)
	if err != nil {
		return nil, err
	}

	if project.typechecker != "" {
		if msg := project.typecheck(ctx); msg != "" {
			return &pulumirpc.RunResponse{Error: msg}, nil
		}
	}

	// -u: a program that crashes early must not lose buffered output the user needs to see.
	args := append([]string{"-u", script}, h.runArguments(req, engine)...)
	cmd, err := project.command(ctx, os.Environ(), args...)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(cmd.Env, configEnv...)
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	logging.V(5).Infof("running program: %s", strings.Join(cmd.Args, " "))
	// The engine may stop this host as soon as the program ends; buffered log lines would be lost.
	logging.Flush()

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf(
				"could not start the Python program with %s: %v", cmd.Path, err)}, nil
		}
		if status, ok := exitErr.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf(
				"program was terminated by signal %s", status.Signal())}, nil
		}
		if exitErr.ExitCode() == exitCodeErrorShown {
			return &pulumirpc.RunResponse{Bail: true}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf(
			"program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// typecheck runs the configured type checker over the program and returns a message when it finds errors.
func (p *pythonProject) typecheck(ctx context.Context) string {
	args := []string{"-m", p.typechecker}
	if p.typechecker == "mypy" && p.virtualenv != "" {
		if rel, err := filepath.Rel(p.programDir, p.virtualenv); err == nil && !strings.HasPrefix(rel, "..") {
			args = append(args, "--exclude", rel)
		}
	}
	args = append(args, p.programDir)
	cmd, err := p.command(ctx, os.Environ(), args...)
	if err != nil {
		return err.Error()
	}
	cmd.Dir = p.programDir
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Sprintf("%s failed (%v); fix the reported type errors, install %s in the virtualenv, or "+
			"remove runtime.options.typechecker", p.typechecker, err, p.typechecker)
	}
	return ""
}

// InstallDependencies checks the environment the project runs in. The platform's bootstrap creates and fills the
// virtual environment, so a present one is verified and reported; a missing one is created and given the
// program's requirements.txt, as `pulumi install` would expect.
func (h *languageHost) InstallDependencies(
	req *pulumirpc.InstallDependenciesRequest, server pulumirpc.LanguageRuntime_InstallDependenciesServer,
) error {
	ctx := server.Context()
	project, err := projectFromInfo(ctx, req.GetInfo())
	if err != nil {
		return err
	}
	if req.GetIsPlugin() && project.toolchain == toolchainPip && project.virtualenvOption == "" {
		// Plugins never run in the ambient interpreter; "venv" is the conventional default.
		project.virtualenvOption = "venv"
		project.virtualenv = absUnder(project.root, "venv")
	}

	closer, stdout, stderr, err := rpcutil.MakeInstallDependenciesStreams(server, req.GetIsTerminal())
	if err != nil {
		return err
	}
	defer closer.Close()

	if project.virtualenv != "" && !isVirtualenv(project.virtualenv) {
		if err := project.createVirtualenv(ctx, stdout, stderr); err != nil {
			return err
		}
	}
	if err := project.report(ctx, stdout); err != nil {
		return err
	}
	return closer.Close()
}

func (p *pythonProject) createVirtualenv(ctx context.Context, stdout, stderr io.Writer) error {
	if p.toolchain != toolchainPip {
		return p.validate()
	}
	if _, err := os.Stat(p.virtualenv); err == nil {
		if entries, _ := os.ReadDir(p.virtualenv); len(entries) > 0 {
			// Never write into a non-empty directory that is not an environment: it may be anything.
			return p.validate()
		}
	}
	base, err := ambientPython()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "Creating virtual environment %s\n", p.virtualenv)
	create := exec.CommandContext(ctx, base, "-m", "venv", p.virtualenv)
	create.Stdout, create.Stderr = stdout, stderr
	if err := create.Run(); err != nil {
		return fmt.Errorf("`%s -m venv %s` failed: %w; on Debian install python3-venv", base, p.virtualenv, err)
	}

	requirements := ""
	for _, dir := range []string{p.programDir, p.root} {
		candidate := filepath.Join(dir, "requirements.txt")
		if _, err := os.Stat(candidate); err == nil {
			requirements = candidate
			break
		}
	}
	if requirements == "" {
		fmt.Fprintf(stdout, "No requirements.txt in %s; the new environment is empty\n", p.programDir)
		return nil
	}
	fmt.Fprintf(stdout, "Installing %s\n", requirements)
	install, err := p.command(ctx, os.Environ(), "-m", "pip", "install", "-r", requirements)
	if err != nil {
		return err
	}
	install.Dir = filepath.Dir(requirements)
	install.Stdout, install.Stderr = stdout, stderr
	if err := install.Run(); err != nil {
		return fmt.Errorf("installing %s into %s failed: %w", requirements, p.virtualenv, err)
	}
	return nil
}

// report writes which interpreter runs the project and whether the Pulumi SDK is installed for it.
func (p *pythonProject) report(ctx context.Context, out io.Writer) error {
	python, pyVersion, err := p.interpreterVersion(ctx)
	if err != nil {
		return err
	}
	where := "the ambient interpreter"
	if p.virtualenv != "" {
		where = "virtual environment " + p.virtualenv
	}
	fmt.Fprintf(out, "Using %s: %s (Python %s)\n", where, python, pyVersion)

	dirs, err := p.sitePackages(ctx)
	if err != nil {
		return err
	}
	dists, err := installedDistributions(dirs)
	if err != nil {
		return err
	}
	for _, d := range dists {
		if normalizeName(d.Name) == "pulumi" {
			fmt.Fprintf(out, "Pulumi Python SDK %s is installed\n", d.Version)
			return nil
		}
	}
	return fmt.Errorf("the Pulumi Python SDK (package `pulumi`) is not installed for %s; install it with "+
		"`%s -m pip install pulumi` or add it to requirements.txt", python, python)
}

func (p *pythonProject) interpreterVersion(ctx context.Context) (string, string, error) {
	cmd, err := p.command(ctx, os.Environ(), "-c",
		"import sys; print(sys.executable); print('%d.%d.%d' % sys.version_info[:3])")
	if err != nil {
		return "", "", err
	}
	out, err := cmd.Output()
	if err != nil {
		return "", "", fmt.Errorf("%s did not run: %w", cmd.Path, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2 {
		return "", "", fmt.Errorf("unexpected output from %s: %q", cmd.Path, out)
	}
	return strings.TrimSpace(lines[0]), strings.TrimSpace(lines[1]), nil
}

func (h *languageHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	project := &pythonProject{toolchain: toolchainPip}
	if req.GetInfo() != nil {
		var err error
		if project, err = projectFromInfo(ctx, req.GetInfo()); err != nil {
			return nil, err
		}
	}
	python, pyVersion, err := project.interpreterVersion(ctx)
	if err != nil {
		return nil, err
	}
	metadata := map[string]string{"toolchain": project.toolchain}
	if project.virtualenv != "" {
		metadata["virtualenv"] = project.virtualenv
	}
	return &pulumirpc.AboutResponse{Executable: python, Version: pyVersion, Metadata: metadata}, nil
}

func (h *languageHost) GetProgramDependencies(
	ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	project, err := projectFromInfo(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	dirs, err := project.sitePackages(ctx)
	if err != nil {
		return nil, err
	}
	dists, err := installedDistributions(dirs)
	if err != nil {
		return nil, err
	}
	if !req.GetTransitiveDependencies() {
		dists = topLevel(dists)
	}
	deps := make([]*pulumirpc.DependencyInfo, 0, len(dists))
	for _, d := range dists {
		deps = append(deps, &pulumirpc.DependencyInfo{Name: normalizeName(d.Name), Version: d.Version})
	}
	return &pulumirpc.GetProgramDependenciesResponse{Dependencies: deps}, nil
}

// RunPlugin runs a plugin written in Python: a policy pack (PulumiPolicy.yaml) or a provider or tool
// (PulumiPlugin.yaml). A directory with __main__.py runs that file; a Python package with a pyproject.toml runs
// through the SDK's pulumi.run.plugin entry point. Output streams back to the CLI, which reads the plugin's port
// from its first line of stdout.
func (h *languageHost) RunPlugin(
	req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer,
) error {
	ctx := server.Context()
	project, err := projectFromInfo(ctx, req.GetInfo())
	if err != nil {
		return err
	}
	if project.toolchain == toolchainPip && project.virtualenvOption == "" {
		project.virtualenvOption = "venv"
		project.virtualenv = absUnder(project.root, "venv")
	}
	args, err := project.pluginArguments()
	if err != nil {
		return err
	}
	args = append(args, req.GetArgs()...)

	base := req.GetEnv()
	if len(base) == 0 {
		base = os.Environ()
	}
	cmd, err := project.command(ctx, base, args...)
	if err != nil {
		return err
	}
	cmd.Dir = req.GetPwd()
	if cmd.Dir == "" {
		cmd.Dir = project.programDir
	}

	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd.Stdout, cmd.Stderr = stdout, stderr
	logging.V(5).Infof("running plugin: %s", strings.Join(cmd.Args, " "))

	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("could not start the Python plugin in %s: %w", project.programDir, err)
		}
		if ctx.Err() != nil {
			return nil // the CLI closed the stream to stop the plugin; nobody is listening any more
		}
		code = int32(exitErr.ExitCode())
	}
	if err := closer.Close(); err != nil {
		return err
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// pluginArguments starts the interpreter with -u: analyzers write their port without flushing, and through a pipe
// a buffered write would never reach the CLI.
func (p *pythonProject) pluginArguments() ([]string, error) {
	if _, err := os.Stat(filepath.Join(p.programDir, "__main__.py")); err == nil {
		return []string{"-u", p.programDir}, nil
	}
	name, err := pyprojectName(filepath.Join(p.root, "pyproject.toml"))
	if err != nil {
		return nil, fmt.Errorf("the Python plugin in %s has no __main__.py, and %w", p.programDir, err)
	}
	return []string{"-u", "-m", "pulumi.run.plugin", name}, nil
}

// pyprojectName reads [project].name, the only field needed to start a packaged plugin.
func pyprojectName(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("no readable pyproject.toml (%v); add a __main__.py that starts the plugin", err)
	}
	inProject := false
	for _, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") {
			inProject = line == "[project]"
			continue
		}
		if !inProject {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if ok && strings.TrimSpace(key) == "name" {
			value = strings.TrimSpace(value)
			if i := strings.Index(value, "#"); i > 0 {
				value = strings.TrimSpace(value[:i])
			}
			if name := strings.Trim(value, `"'`); name != "" {
				return name, nil
			}
		}
	}
	return "", fmt.Errorf("%s has no [project] name; add one or a __main__.py that starts the plugin", path)
}
