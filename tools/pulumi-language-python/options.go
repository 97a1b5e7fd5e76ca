package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

const (
	toolchainPip    = "pip"
	toolchainUv     = "uv"
	toolchainPoetry = "poetry"
)

// pythonProject is what the host needs to know about one program or plugin: where it lives and which Python
// environment runs it. It is rebuilt from every request, because one host serves the project, its policy packs
// and its Python plugins, each with options of its own.
type pythonProject struct {
	root       string // directory of Pulumi.yaml, PulumiPolicy.yaml or PulumiPlugin.yaml
	programDir string
	entryPoint string

	toolchain   string
	typechecker string // "", "mypy" or "pyright"

	// virtualenvOption is the option as written in the project file, kept for error messages.
	virtualenvOption string
	// virtualenv is the absolute path of the environment; empty means the ambient interpreter.
	virtualenv string
}

// projectFromInfo reads the runtime options of a program. Relative virtualenv paths are relative to the project
// root (where the project file is), not to the program directory given by `main`.
func projectFromInfo(ctx context.Context, info *pulumirpc.ProgramInfo) (*pythonProject, error) {
	if info == nil {
		return nil, errors.New("the request carries no program information (ProgramInfo); the Pulumi CLI " +
			"that sent it predates this language host, upgrade the CLI")
	}
	p := &pythonProject{
		root:       info.GetRootDirectory(),
		programDir: info.GetProgramDirectory(),
		entryPoint: info.GetEntryPoint(),
		toolchain:  toolchainPip,
	}
	if p.programDir == "" {
		p.programDir = p.root
	}
	if p.root == "" {
		p.root = p.programDir
	}
	if p.entryPoint == "" {
		p.entryPoint = "."
	}

	options := info.GetOptions().AsMap()
	str := func(key string) (string, error) {
		raw, ok := options[key]
		if !ok || raw == nil {
			return "", nil
		}
		s, ok := raw.(string)
		if !ok {
			return "", fmt.Errorf("the %q runtime option must be a string, got %v; fix runtime.options.%s "+
				"in the project file", key, raw, key)
		}
		return s, nil
	}

	var err error
	if p.virtualenvOption, err = str("virtualenv"); err != nil {
		return nil, err
	}
	tc, err := str("toolchain")
	if err != nil {
		return nil, err
	}
	switch tc {
	case "", toolchainPip:
	case toolchainUv, toolchainPoetry:
		p.toolchain = tc
	default:
		return nil, fmt.Errorf("unsupported toolchain %q in runtime.options.toolchain; use pip, uv or poetry", tc)
	}
	if p.typechecker, err = str("typechecker"); err != nil {
		return nil, err
	}
	switch p.typechecker {
	case "", "mypy", "pyright":
	default:
		return nil, fmt.Errorf("unsupported typechecker %q in runtime.options.typechecker; use mypy or pyright",
			p.typechecker)
	}

	if err := p.resolveVirtualenv(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *pythonProject) resolveVirtualenv(ctx context.Context) error {
	option := p.virtualenvOption
	switch {
	case option != "":
	case p.toolchain == toolchainUv:
		// uv keeps the project environment in .venv next to pyproject.toml unless told otherwise.
		option = ".venv"
	case p.toolchain == toolchainPoetry:
		path, err := poetryEnvPath(ctx, p.root)
		if err != nil {
			return err
		}
		option = path
	default:
		return nil
	}
	p.virtualenv = absUnder(p.root, option)
	return nil
}

func poetryEnvPath(ctx context.Context, root string) (string, error) {
	if _, err := exec.LookPath("poetry"); err != nil {
		return "", errors.New("the project uses the poetry toolchain but `poetry` is not on PATH; install " +
			"poetry, or use toolchain: pip with a virtualenv option")
	}
	cmd := exec.CommandContext(ctx, "poetry", "env", "info", "--path")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("`poetry env info --path` failed in %s (%w); run `poetry install` there first",
			root, err)
	}
	path := strings.TrimSpace(string(out))
	if path == "" {
		return "", fmt.Errorf("poetry has no environment for %s; run `poetry install` there first", root)
	}
	return path, nil
}

func absUnder(base, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(base, path)
}

// isVirtualenv reports whether dir holds a usable environment, that is, an interpreter in bin/.
func isVirtualenv(dir string) bool {
	info, err := os.Stat(filepath.Join(dir, "bin", "python"))
	return err == nil && !info.IsDir()
}

// validate fails when the configured environment cannot run anything, naming the commands that create it.
func (p *pythonProject) validate() error {
	if p.virtualenv == "" || isVirtualenv(p.virtualenv) {
		return nil
	}
	problem := "does not exist"
	if _, err := os.Stat(p.virtualenv); err == nil {
		problem = "is not a virtual environment (it has no bin/python)"
	}
	shown := p.virtualenvOption
	if shown == "" {
		shown = p.virtualenv
	}
	var fix string
	switch p.toolchain {
	case toolchainUv:
		fix = fmt.Sprintf("run `uv sync` in %s", p.root)
	case toolchainPoetry:
		fix = fmt.Sprintf("run `poetry install` in %s", p.root)
	default:
		fix = fmt.Sprintf("create it with `python3 -m venv %s` and install the dependencies with "+
			"`%s -m pip install -r requirements.txt` (or run `pulumi install`)",
			p.virtualenv, filepath.Join(p.virtualenv, "bin", "python"))
	}
	return fmt.Errorf("the virtualenv %q set in %s resolves to %s, which %s; %s",
		shown, p.root, p.virtualenv, problem, fix)
}

// python returns the interpreter that runs the project.
func (p *pythonProject) python() (string, error) {
	if p.virtualenv != "" {
		if err := p.validate(); err != nil {
			return "", err
		}
		return filepath.Join(p.virtualenv, "bin", "python"), nil
	}
	return ambientPython()
}

func ambientPython() (string, error) {
	candidates := []string{"python3", "python"}
	if cmd := os.Getenv("PULUMI_PYTHON_CMD"); cmd != "" {
		candidates = []string{cmd}
	}
	for _, name := range candidates {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("no Python interpreter found on PATH (looked for %s); install Python 3, or set "+
		"runtime.options.virtualenv in the project file", strings.Join(candidates, ", "))
}

// environ returns base with the project's virtual environment activated the way its activate script would:
// its bin first on PATH, VIRTUAL_ENV set and PYTHONHOME removed (a PYTHONHOME from the caller would make the
// environment's interpreter load another installation's standard library).
func (p *pythonProject) environ(base []string) []string {
	if p.virtualenv == "" {
		return append([]string(nil), base...)
	}
	bin := filepath.Join(p.virtualenv, "bin")
	out := make([]string, 0, len(base)+2)
	path := bin
	for _, kv := range base {
		key, value, _ := strings.Cut(kv, "=")
		switch key {
		case "PATH":
			if value != "" {
				path = bin + string(os.PathListSeparator) + value
			}
		case "PYTHONHOME", "VIRTUAL_ENV":
		default:
			out = append(out, kv)
		}
	}
	return append(out, "PATH="+path, "VIRTUAL_ENV="+p.virtualenv)
}

// command builds an interpreter invocation with the environment activated.
func (p *pythonProject) command(ctx context.Context, base []string, args ...string) (*exec.Cmd, error) {
	python, err := p.python()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, python, args...)
	cmd.Env = p.environ(base)
	return cmd, nil
}
