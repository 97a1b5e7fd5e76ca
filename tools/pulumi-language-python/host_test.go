package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

// fakeVenv lays out a virtual environment whose interpreter is a shell script. The script records its arguments,
// working directory and environment in record.json next to the venv, then exits with $FAKE_EXIT (default 0).
func fakeVenv(t *testing.T, root string) (venv, record string) {
	t.Helper()
	venv = filepath.Join(root, ".venv")
	record = filepath.Join(root, "record.json")
	script := `#!/bin/sh
{
  printf '{"args": ['
  sep=""
  for a in "$@"; do printf '%s"%s"' "$sep" "$a"; sep=","; done
  printf '], "cwd": "%s", "virtual_env": "%s", "path": "%s", "pythonhome": "%s", ' \
    "$PWD" "${VIRTUAL_ENV:-}" "$PATH" "${PYTHONHOME:-}"
  printf '"config": %s, "secret_keys": %s}' "${PULUMI_CONFIG:-null}" "${PULUMI_CONFIG_SECRET_KEYS:-null}"
} > "` + record + `"
echo "to stdout from fake python"
echo "to stderr from fake python" >&2
exit "${FAKE_EXIT:-0}"
`
	writeFile(t, filepath.Join(venv, "bin", "python"), script, 0o755)
	return venv, record
}

type recorded struct {
	Args       []string          `json:"args"`
	Cwd        string            `json:"cwd"`
	VirtualEnv string            `json:"virtual_env"`
	Path       string            `json:"path"`
	PythonHome string            `json:"pythonhome"`
	Config     map[string]string `json:"config"`
	SecretKeys []string          `json:"secret_keys"`
}

func readRecord(t *testing.T, path string) recorded {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("the fake interpreter did not run: %v", err)
	}
	var r recorded
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("bad record %s: %v", data, err)
	}
	return r
}

func programInfo(t *testing.T, root, programDir string, options map[string]any) *pulumirpc.ProgramInfo {
	t.Helper()
	opts, err := structpb.NewStruct(options)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.ProgramInfo{RootDirectory: root, ProgramDirectory: programDir, EntryPoint: ".", Options: opts}
}

func sitePackagesOf(venv string) string {
	return filepath.Join(venv, "lib", "python3.11", "site-packages")
}

func addDist(t *testing.T, site, name, version string, files map[string]string, requires ...string) {
	t.Helper()
	meta := filepath.Join(site, strings.ReplaceAll(name, "-", "_")+"-"+version+".dist-info")
	var b strings.Builder
	b.WriteString("Metadata-Version: 2.1\nName: " + name + "\nVersion: " + version + "\n")
	for _, r := range requires {
		b.WriteString("Requires-Dist: " + r + "\n")
	}
	b.WriteString("\nName: not-a-header-this-is-the-description\n")
	writeFile(t, filepath.Join(meta, "METADATA"), b.String(), 0o644)
	var record strings.Builder
	for rel, content := range files {
		writeFile(t, filepath.Join(site, rel), content, 0o644)
		record.WriteString(rel + ",sha256=x,1\n")
	}
	writeFile(t, filepath.Join(meta, "RECORD"), record.String(), 0o644)
}

func TestPluginVersionFromPEP440(t *testing.T) {
	cases := map[string]string{
		"1":                 "1.0.0",
		"1.2":               "1.2.0",
		"4.34.2":            "4.34.2",
		"4.25.0a1768448096": "4.25.0-alpha.1768448096",
		"1.2.3b4":           "1.2.3-beta.4",
		"1.2.3rc4":          "1.2.3-rc.4",
		"1.2.3.post4":       "1.2.3+post4",
		"1.2.3.dev5":        "1.2.3+dev5",
		"1.2.3.post4.dev5":  "1.2.3+post4dev5",
		"1.02.3":            "1.2.3",
	}
	for in, want := range cases {
		got, err := pluginVersionFromPEP440(in)
		if err != nil || got != want {
			t.Errorf("pluginVersionFromPEP440(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "1!2.0", "1.2.3+local", "1.2.3.4", "abc", "1.2.3a", "1.2.3-foo"} {
		if got, err := pluginVersionFromPEP440(bad); err == nil {
			t.Errorf("pluginVersionFromPEP440(%q) = %q, want an error", bad, got)
		}
	}
}

func TestProjectOptions(t *testing.T) {
	root := t.TempDir()
	ctx := context.Background()

	p, err := projectFromInfo(ctx, programInfo(t, root, filepath.Join(root, "infra"),
		map[string]any{"virtualenv": ".venv", "toolchain": "pip"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, ".venv"); p.virtualenv != want {
		t.Errorf("a relative virtualenv must resolve against the project root: got %s, want %s", p.virtualenv, want)
	}

	p, err = projectFromInfo(ctx, programInfo(t, root, root, map[string]any{"toolchain": "uv"}))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(root, ".venv"); p.virtualenv != want {
		t.Errorf("uv without virtualenv: got %q, want %q", p.virtualenv, want)
	}

	p, err = projectFromInfo(ctx, programInfo(t, root, root, map[string]any{}))
	if err != nil {
		t.Fatal(err)
	}
	if p.virtualenv != "" || p.toolchain != toolchainPip {
		t.Errorf("no options must mean the ambient interpreter with pip, got %+v", p)
	}

	for _, bad := range []map[string]any{
		{"toolchain": "conda"},
		{"virtualenv": 3.0},
		{"typechecker": "pytype"},
	} {
		if _, err := projectFromInfo(ctx, programInfo(t, root, root, bad)); err == nil {
			t.Errorf("options %v must be rejected", bad)
		}
	}
	if _, err := projectFromInfo(ctx, nil); err == nil {
		t.Error("a request without ProgramInfo must be rejected")
	}
}

func TestMissingVirtualenvNamesTheFix(t *testing.T) {
	root := t.TempDir()
	p, err := projectFromInfo(context.Background(), programInfo(t, root, root, map[string]any{"virtualenv": "venv"}))
	if err != nil {
		t.Fatal(err)
	}
	err = p.validate()
	if err == nil {
		t.Fatal("a missing virtualenv must fail validation")
	}
	for _, want := range []string{filepath.Join(root, "venv"), "does not exist", "python3 -m venv"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestRequiredPackagesFromSitePackages(t *testing.T) {
	root := t.TempDir()
	venv, _ := fakeVenv(t, root)
	site := sitePackagesOf(venv)

	addDist(t, site, "pulumi_kubernetes", "4.25.0a1768448096", map[string]string{
		"pulumi_kubernetes/__init__.py": "",
		"pulumi_kubernetes/pulumi-plugin.json": `{"resource": true, "name": "kubernetes",
			"version": "4.25.0-alpha.1768448096"}`,
	}, "pulumi>=3")
	addDist(t, site, "pulumi-random", "4.16.0", map[string]string{"pulumi_random/__init__.py": ""})
	addDist(t, site, "pulumi_policy", "1.21.0", map[string]string{"pulumi_policy/__init__.py": ""})
	addDist(t, site, "pulumi", "3.272.0", map[string]string{"pulumi/__init__.py": ""})
	addDist(t, site, "requests", "2.32.0", map[string]string{"requests/__init__.py": ""})
	addDist(t, site, "pulumi-esc-sdk", "0.1.0", map[string]string{"pulumi_esc_sdk/__init__.py": ""})
	addDist(t, site, "pulumi_command_helpers", "1.0.0", map[string]string{
		"pulumi_command_helpers/pulumi-plugin.json": `{"resource": false}`,
	})
	// A module name unrelated to the distribution name: only RECORD can find its pulumi-plugin.json.
	addDist(t, site, "acme-terraform-bridge", "0.3.0", map[string]string{
		"acme_tf/pulumi-plugin.json": `{"resource": true, "name": "terraform-provider", "version": "0.9.1",
			"server": "https://example.invalid/plugins",
			"parameterization": {"name": "acme", "version": "0.3.0", "value": "eyJ4IjoxfQ=="}}`,
	})
	// Leftover of an interrupted install: no METADATA. It must not hide the others.
	if err := os.MkdirAll(filepath.Join(site, "broken-1.0.dist-info"), 0o755); err != nil {
		t.Fatal(err)
	}

	host := newLanguageHost("", "", "")
	resp, err := host.GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
		Info: programInfo(t, root, filepath.Join(root, "infra"), map[string]any{"virtualenv": ".venv"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*pulumirpc.PackageDependency{}
	for _, p := range resp.GetPackages() {
		got[p.GetName()] = p
	}
	var names []string
	for n := range got {
		names = append(names, n)
	}
	sort.Strings(names)
	if strings.Join(names, ",") != "kubernetes,random,terraform-provider" {
		t.Fatalf("required packages = %v, want kubernetes, random and terraform-provider", names)
	}
	if v := got["kubernetes"].GetVersion(); v != "v4.25.0-alpha.1768448096" {
		t.Errorf("kubernetes version = %s", v)
	}
	if v := got["random"].GetVersion(); v != "v4.16.0" {
		t.Errorf("random version derived from the package version = %s", v)
	}
	tf := got["terraform-provider"]
	if tf.GetKind() != "resource" || tf.GetServer() != "https://example.invalid/plugins" ||
		tf.GetParameterization().GetName() != "acme" || tf.GetVersion() != "v0.9.1" {
		t.Errorf("parameterized package not passed through: %v", tf)
	}

	plugins, err := host.GetRequiredPlugins(context.Background(), &pulumirpc.GetRequiredPluginsRequest{
		Info: programInfo(t, root, root, map[string]any{"virtualenv": ".venv"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	var pluginNames []string
	for _, p := range plugins.GetPlugins() {
		pluginNames = append(pluginNames, p.GetName()+"@"+p.GetVersion())
	}
	sort.Strings(pluginNames)
	if strings.Join(pluginNames, ",") != "kubernetes@v4.25.0-alpha.1768448096,random@v4.16.0" {
		t.Errorf("GetRequiredPlugins = %v", pluginNames)
	}
}

func TestProgramDependencies(t *testing.T) {
	root := t.TempDir()
	venv, _ := fakeVenv(t, root)
	site := sitePackagesOf(venv)
	addDist(t, site, "mlops-platform", "0.1.0", nil, "pulumi>=3", "Requests[socks] (>=2)", "pytest; extra == 'test'")
	addDist(t, site, "pulumi", "3.272.0", nil, "grpcio>=1.60")
	addDist(t, site, "grpcio", "1.70.0", nil)
	addDist(t, site, "requests", "2.32.0", nil)
	addDist(t, site, "pytest", "8.0.0", nil)

	host := newLanguageHost("", "", "")
	list := func(transitive bool) string {
		resp, err := host.GetProgramDependencies(context.Background(), &pulumirpc.GetProgramDependenciesRequest{
			Info:                   programInfo(t, root, root, map[string]any{"virtualenv": ".venv"}),
			TransitiveDependencies: transitive,
		})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, d := range resp.GetDependencies() {
			out = append(out, d.GetName()+"=="+d.GetVersion())
		}
		return strings.Join(out, " ")
	}
	if got, want := list(true), "grpcio==1.70.0 mlops-platform==0.1.0 pulumi==3.272.0 pytest==8.0.0 requests==2.32.0"; got != want {
		t.Errorf("transitive dependencies = %q, want %q", got, want)
	}
	// pytest is only an extra's requirement, so like `pip list --not-required` it stays top-level.
	if got, want := list(false), "mlops-platform==0.1.0 pytest==8.0.0"; got != want {
		t.Errorf("top-level dependencies = %q, want %q", got, want)
	}
}

func TestRunPassesSettingsToTheExecScript(t *testing.T) {
	root := t.TempDir()
	_, record := fakeVenv(t, root)
	programDir := filepath.Join(root, "infra")
	if err := os.MkdirAll(programDir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PYTHONHOME", "/somewhere/else")

	host := newLanguageHost("127.0.0.1:1234", "/opt/exec-script", "")
	req := &pulumirpc.RunRequest{
		MonitorAddress:   "127.0.0.1:999",
		Project:          "proj",
		Stack:            "dev",
		Organization:     "org",
		Pwd:              programDir,
		DryRun:           true,
		Parallel:         8,
		Config:           map[string]string{"proj:greeting": "hello", "proj:token": "s3cret"},
		ConfigSecretKeys: []string{"proj:token"},
		Info:             programInfo(t, root, programDir, map[string]any{"virtualenv": ".venv"}),
	}
	resp, err := host.Run(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetError() != "" || resp.GetBail() {
		t.Fatalf("a zero exit must be success, got %v", resp)
	}
	r := readRecord(t, record)
	want := []string{"-u", "/opt/exec-script", "--monitor", "127.0.0.1:999", "--engine", "127.0.0.1:1234",
		"--project", "proj", "--root_directory", root, "--stack", "dev", "--pwd", programDir, "--dry_run", "true",
		"--parallel", "8", "--organization", "org", "."}
	if strings.Join(r.Args, " ") != strings.Join(want, " ") {
		t.Errorf("exec script arguments\n got %v\nwant %v", r.Args, want)
	}
	if r.Cwd != programDir {
		t.Errorf("program ran in %s, want %s", r.Cwd, programDir)
	}
	venv := filepath.Join(root, ".venv")
	if r.VirtualEnv != venv || !strings.HasPrefix(r.Path, filepath.Join(venv, "bin")+":") || r.PythonHome != "" {
		t.Errorf("virtualenv not activated: VIRTUAL_ENV=%q PATH=%q PYTHONHOME=%q", r.VirtualEnv, r.Path, r.PythonHome)
	}
	if r.Config["proj:greeting"] != "hello" || r.Config["proj:token"] != "s3cret" ||
		strings.Join(r.SecretKeys, ",") != "proj:token" {
		t.Errorf("config not passed: %v %v", r.Config, r.SecretKeys)
	}
}

func TestRunReportsProgramFailures(t *testing.T) {
	root := t.TempDir()
	fakeVenv(t, root)
	host := newLanguageHost("127.0.0.1:1234", "/opt/exec-script", "")
	run := func(code string) *pulumirpc.RunResponse {
		t.Setenv("FAKE_EXIT", code)
		resp, err := host.Run(context.Background(), &pulumirpc.RunRequest{
			Pwd: root, Info: programInfo(t, root, root, map[string]any{"virtualenv": ".venv"}),
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	if resp := run("32"); !resp.GetBail() || resp.GetError() != "" {
		t.Errorf("exit 32 means the error was already shown: want bail without a message, got %v", resp)
	}
	if resp := run("3"); resp.GetBail() || resp.GetError() != "program exited with non-zero exit code: 3" {
		t.Errorf("exit 3: got %v", resp)
	}
}

func TestRunWithoutVirtualenvFailsWithTheFix(t *testing.T) {
	root := t.TempDir()
	host := newLanguageHost("127.0.0.1:1234", "/opt/exec-script", "")
	_, err := host.Run(context.Background(), &pulumirpc.RunRequest{
		Pwd: root, Info: programInfo(t, root, root, map[string]any{"virtualenv": "missing-venv"}),
	})
	if err == nil || !strings.Contains(err.Error(), "python3 -m venv") {
		t.Errorf("want an error naming how to create the venv, got %v", err)
	}
}

// startHost serves the language host on a loopback port, as the CLI would see it.
func startHost(t *testing.T, host *languageHost) pulumirpc.LanguageRuntimeClient {
	t.Helper()
	cancel := make(chan bool)
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(
		"127.0.0.1:"+strconv.Itoa(handle.Port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn.Close()
		close(cancel)
		<-handle.Done
	})
	return pulumirpc.NewLanguageRuntimeClient(conn)
}

func TestServedOverGRPC(t *testing.T) {
	client := startHost(t, newLanguageHost("", "", ""))
	ctx := context.Background()

	info, err := client.GetPluginInfo(ctx, &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetVersion() == "" {
		t.Error("GetPluginInfo must report a version")
	}

	if _, err := client.Handshake(ctx, &pulumirpc.LanguageHandshakeRequest{EngineAddress: "127.0.0.1:4242"}); err != nil {
		t.Fatal(err)
	}

	// Code generation is not part of this host; the CLI must get Unimplemented, not a crash or a fake success.
	_, err = client.GenerateProject(ctx, &pulumirpc.GenerateProjectRequest{})
	if err == nil || !strings.Contains(err.Error(), "Unimplemented") {
		t.Errorf("GenerateProject: want Unimplemented, got %v", err)
	}
}

func TestRunPluginStreamsOutputAndExitCode(t *testing.T) {
	root := t.TempDir()
	_, record := fakeVenv(t, root)
	writeFile(t, filepath.Join(root, "__main__.py"), "", 0o644)
	client := startHost(t, newLanguageHost("", "", ""))

	t.Setenv("FAKE_EXIT", "7")
	stream, err := client.RunPlugin(context.Background(), &pulumirpc.RunPluginRequest{
		Pwd:  root,
		Args: []string{"127.0.0.1:5555"},
		Env:  []string{"PATH=/usr/bin:/bin", "FAKE_EXIT=7", "PYTHONHOME=/elsewhere"},
		Info: programInfo(t, root, root, map[string]any{"virtualenv": ".venv"}),
		Kind: "analyzer",
	})
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr strings.Builder
	exit := int32(-1)
	for {
		msg, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		switch out := msg.GetOutput().(type) {
		case *pulumirpc.RunPluginResponse_Stdout:
			stdout.Write(out.Stdout)
		case *pulumirpc.RunPluginResponse_Stderr:
			stderr.Write(out.Stderr)
		case *pulumirpc.RunPluginResponse_Exitcode:
			exit = out.Exitcode
		}
	}
	if !strings.Contains(stdout.String(), "to stdout from fake python") ||
		!strings.Contains(stderr.String(), "to stderr from fake python") {
		t.Errorf("plugin output not streamed: stdout %q stderr %q", stdout.String(), stderr.String())
	}
	if exit != 7 {
		t.Errorf("exit code = %d, want 7", exit)
	}
	r := readRecord(t, record)
	if strings.Join(r.Args, " ") != "-u "+root+" 127.0.0.1:5555" {
		t.Errorf("plugin arguments = %v", r.Args)
	}
	if r.PythonHome != "" || !strings.HasPrefix(r.Path, filepath.Join(root, ".venv", "bin")+":") {
		t.Errorf("the request's environment must still get the venv activated: PATH=%q PYTHONHOME=%q",
			r.Path, r.PythonHome)
	}
}

func TestPyprojectName(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pyproject.toml")
	writeFile(t, path, "[build-system]\nname = \"wrong\"\n\n[project]\nversion = \"1\"\nname = \"my-provider\"  # c\n", 0o644)
	if name, err := pyprojectName(path); err != nil || name != "my-provider" {
		t.Errorf("pyprojectName = %q, %v", name, err)
	}
	writeFile(t, path, "[tool.poetry]\nname = \"x\"\n", 0o644)
	if _, err := pyprojectName(path); err == nil {
		t.Error("a pyproject without [project] name must be rejected")
	}
}

func TestTypecheckerRunsBeforeTheProgramAndStopsIt(t *testing.T) {
	root := t.TempDir()
	_, record := fakeVenv(t, root)
	host := newLanguageHost("127.0.0.1:1234", "/opt/exec-script", "")
	t.Setenv("FAKE_EXIT", "1")
	resp, err := host.Run(context.Background(), &pulumirpc.RunRequest{
		Pwd:  root,
		Info: programInfo(t, root, root, map[string]any{"virtualenv": ".venv", "typechecker": "mypy"}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.GetError(), "mypy failed") {
		t.Errorf("a failing type check must fail the run naming the checker, got %v", resp)
	}
	// The record is the last interpreter invocation: the checker's, since the program never started.
	if got := strings.Join(readRecord(t, record).Args, " "); got != "-m mypy --exclude .venv "+root {
		t.Errorf("type checker arguments = %q", got)
	}
}

func TestAmbientInterpreterIsAskedForItsSitePackages(t *testing.T) {
	dir := t.TempDir()
	site := filepath.Join(dir, "site-packages")
	addDist(t, site, "pulumi-random", "4.16.0", map[string]string{"pulumi_random/__init__.py": ""})
	python := filepath.Join(dir, "python3")
	// Stands in for `python -c ...`: answers the site-packages query the way site.getsitepackages() would.
	writeFile(t, python, "#!/bin/sh\nprintf '[\"%s\", \"/nonexistent/user-site\"]' '"+site+"'\n", 0o755)
	t.Setenv("PULUMI_PYTHON_CMD", python)

	host := newLanguageHost("", "", "")
	resp, err := host.GetRequiredPackages(context.Background(), &pulumirpc.GetRequiredPackagesRequest{
		Info: programInfo(t, dir, dir, map[string]any{}),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetPackages()) != 1 || resp.GetPackages()[0].GetName() != "random" {
		t.Errorf("want the random plugin from the ambient site-packages, got %v", resp.GetPackages())
	}
}
