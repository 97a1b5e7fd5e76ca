package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// echoPython is an interpreter stand-in that prints what it was started with.
const echoPython = "#!/bin/sh\necho \"python=$0 venv=${VIRTUAL_ENV:-} args=$*\"\n"

// runLauncher runs launchers/pulumi-resource-pulumi-python in dir with the given extra environment.
func runLauncher(t *testing.T, dir string, env ...string) (string, string, error) {
	t.Helper()
	launcher, err := filepath.Abs(filepath.Join("launchers", "pulumi-resource-pulumi-python"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", launcher, "127.0.0.1:1234", "--flag")
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/bin:/bin", "PWD=" + dir}, env...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	return stdout.String(), stderr.String(), err
}

func TestLauncherFindsARelativeVirtualenvUnderTheProjectRoot(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "Pulumi.yaml"), "name: x\nmain: infra/\n", 0o644)
	writeFile(t, filepath.Join(root, ".venv", "bin", "python"), echoPython, 0o755)
	program := filepath.Join(root, "infra")
	if err := os.MkdirAll(program, 0o755); err != nil {
		t.Fatal(err)
	}

	out, stderr, err := runLauncher(t, program, "PULUMI_RUNTIME_VIRTUALENV=.venv/")
	if err != nil {
		t.Fatalf("launcher failed: %v\n%s", err, stderr)
	}
	venv := filepath.Join(root, ".venv")
	want := "python=" + filepath.Join(venv, "bin", "python") + " venv=" + venv +
		" args=-u -m pulumi.dynamic 127.0.0.1:1234 --flag"
	if strings.TrimSpace(out) != want {
		t.Errorf("launcher ran\n %s\nwant\n %s", strings.TrimSpace(out), want)
	}
}

func TestLauncherFallsBackToTheWorkingDirectory(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "Pulumi.yaml"), "name: x\nmain: infra/\n", 0o644)
	program := filepath.Join(root, "infra")
	writeFile(t, filepath.Join(program, "venv", "bin", "python"), echoPython, 0o755)

	out, stderr, err := runLauncher(t, program, "PULUMI_RUNTIME_VIRTUALENV=venv")
	if err != nil {
		t.Fatalf("launcher failed: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "venv="+filepath.Join(program, "venv")+" ") {
		t.Errorf("want the working directory's venv, got %s", out)
	}
}

func TestLauncherUsesAnAbsoluteVirtualenvAsIs(t *testing.T) {
	venv := filepath.Join(t.TempDir(), "env")
	writeFile(t, filepath.Join(venv, "bin", "python"), echoPython, 0o755)

	out, stderr, err := runLauncher(t, t.TempDir(), "PULUMI_RUNTIME_VIRTUALENV="+venv)
	if err != nil {
		t.Fatalf("launcher failed: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "venv="+venv+" ") {
		t.Errorf("want %s, got %s", venv, out)
	}
}

func TestLauncherWithoutVirtualenvUsesPulumiPythonCmd(t *testing.T) {
	python := filepath.Join(t.TempDir(), "mypython")
	writeFile(t, python, echoPython, 0o755)

	out, stderr, err := runLauncher(t, t.TempDir(), "PULUMI_PYTHON_CMD="+python)
	if err != nil {
		t.Fatalf("launcher failed: %v\n%s", err, stderr)
	}
	if !strings.Contains(out, "python="+python+" venv= args=-u -m pulumi.dynamic 127.0.0.1:1234 --flag") {
		t.Errorf("want the ambient interpreter from PULUMI_PYTHON_CMD, got %s", out)
	}
}

func TestLauncherNamesWhereItLookedWhenTheVirtualenvIsMissing(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "Pulumi.yaml"), "name: x\n", 0o644)
	program := filepath.Join(root, "infra")
	if err := os.MkdirAll(program, 0o755); err != nil {
		t.Fatal(err)
	}

	_, stderr, err := runLauncher(t, program, "PULUMI_RUNTIME_VIRTUALENV=.venv")
	if err == nil {
		t.Fatal("a missing virtualenv must fail the launcher")
	}
	for _, want := range []string{filepath.Join(root, ".venv"), filepath.Join(program, ".venv"), "python3 -m venv"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error output %q does not mention %q", stderr, want)
		}
	}
}
