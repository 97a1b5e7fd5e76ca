package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/logging"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
)

// distribution is one installed Python distribution, read from its metadata directory.
type distribution struct {
	Name     string // as written in the metadata
	Version  string
	Location string // the site-packages directory holding it
	metaDir  string // its .dist-info or .egg-info directory
	requires []string
}

// packagesWithoutPlugins ship no resource plugin but may predate the pulumi-plugin.json that says so.
var packagesWithoutPlugins = map[string]bool{
	"pulumi-policy":  true,
	"pulumi-esc-sdk": true,
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// normalizeName applies PEP 503, so that `Pulumi_Kubernetes` and `pulumi-kubernetes` compare equal.
func normalizeName(name string) string {
	return strings.ToLower(nameSeparators.ReplaceAllString(name, "-"))
}

// sitePackages lists the directories the project's interpreter imports installed packages from. A virtual
// environment is read directly; the ambient interpreter is asked, since only it knows its layout.
func (p *pythonProject) sitePackages(ctx context.Context) ([]string, error) {
	if p.virtualenv != "" {
		if err := p.validate(); err != nil {
			return nil, err
		}
		var dirs []string
		seen := map[string]bool{}
		for _, pattern := range []string{"lib/python3*/site-packages", "lib64/python3*/site-packages"} {
			matches, err := filepath.Glob(filepath.Join(p.virtualenv, pattern))
			if err != nil {
				return nil, err
			}
			for _, m := range matches {
				// lib64 is often a symlink to lib; scanning it twice would list every package twice.
				real, err := filepath.EvalSymlinks(m)
				if err != nil || seen[real] {
					continue
				}
				seen[real] = true
				dirs = append(dirs, m)
			}
		}
		if len(dirs) == 0 {
			return nil, fmt.Errorf("the virtual environment %s has no lib/python3*/site-packages directory; "+
				"recreate it with `python3 -m venv %s`", p.virtualenv, p.virtualenv)
		}
		return dirs, nil
	}

	cmd, err := p.command(ctx, os.Environ(), "-c",
		"import json, site, sys\n"+
			"dirs = list(site.getsitepackages())\n"+
			"if site.ENABLE_USER_SITE: dirs.append(site.getusersitepackages())\n"+
			"json.dump(dirs, sys.stdout)\n")
	if err != nil {
		return nil, err
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("could not ask %s for its site-packages directories: %w", cmd.Path, err)
	}
	var dirs []string
	if err := json.Unmarshal(out, &dirs); err != nil {
		return nil, fmt.Errorf("could not parse the site-packages directories reported by %s: %w", cmd.Path, err)
	}
	return dirs, nil
}

// installedDistributions reads every distribution in dirs. When two directories hold the same distribution, the
// first wins, as it does on sys.path.
func installedDistributions(dirs []string) ([]distribution, error) {
	seen := map[string]bool{}
	var result []distribution
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("reading %s: %w", dir, err)
		}
		for _, entry := range entries {
			var metadataFile string
			switch name := entry.Name(); {
			case strings.HasSuffix(name, ".dist-info"):
				metadataFile = filepath.Join(dir, name, "METADATA")
			case strings.HasSuffix(name, ".egg-info") && entry.IsDir():
				metadataFile = filepath.Join(dir, name, "PKG-INFO")
			case strings.HasSuffix(name, ".egg-info"):
				metadataFile = filepath.Join(dir, name)
			default:
				continue
			}
			dist, err := readMetadata(metadataFile)
			if err != nil {
				// One broken leftover (an interrupted install) must not hide every other package.
				logging.V(5).Infof("skipping %s: %v", metadataFile, err)
				continue
			}
			key := normalizeName(dist.Name)
			if seen[key] {
				continue
			}
			seen[key] = true
			dist.Location = dir
			dist.metaDir = filepath.Join(dir, entry.Name())
			result = append(result, dist)
		}
	}
	sort.Slice(result, func(i, j int) bool {
		return normalizeName(result[i].Name) < normalizeName(result[j].Name)
	})
	return result, nil
}

// readMetadata reads the header block of a core metadata file (an email-style header block, see
// https://packaging.python.org/specifications/core-metadata/).
func readMetadata(path string) (distribution, error) {
	f, err := os.Open(path)
	if err != nil {
		return distribution{}, err
	}
	defer f.Close()

	var dist distribution
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 64*1024), 1024*1024)
	for scanner.Scan() {
		line := scanner.Text()
		if line == "" {
			break // the description body follows the headers
		}
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		switch strings.ToLower(key) {
		case "name":
			dist.Name = value
		case "version":
			dist.Version = value
		case "requires-dist":
			if req := requirementName(value); req != "" {
				dist.requires = append(dist.requires, req)
			}
		}
	}
	if err := scanner.Err(); err != nil {
		return distribution{}, err
	}
	if dist.Name == "" || dist.Version == "" {
		return distribution{}, errors.New("metadata has no Name or Version")
	}
	return dist, nil
}

var requirementNamePattern = regexp.MustCompile(`^\s*([A-Za-z0-9][A-Za-z0-9._-]*)`)

// requirementName returns the normalized name a Requires-Dist entry depends on, or "" for a dependency that only
// an extra pulls in (those are not installed unless asked for, so they do not make a package "required").
func requirementName(spec string) string {
	if _, marker, ok := strings.Cut(spec, ";"); ok && strings.Contains(marker, "extra") {
		return ""
	}
	m := requirementNamePattern.FindStringSubmatch(spec)
	if m == nil {
		return ""
	}
	return normalizeName(m[1])
}

// pluginJSONPath finds the pulumi-plugin.json a package ships in its top-level module. The RECORD file lists what
// the installer wrote, so it finds the module even when its name differs from the distribution's.
func (d distribution) pluginJSONPath() string {
	if record, err := os.ReadFile(filepath.Join(d.metaDir, "RECORD")); err == nil {
		for _, line := range strings.Split(string(record), "\n") {
			path, _, _ := strings.Cut(line, ",")
			parts := strings.Split(path, "/")
			if len(parts) == 2 && parts[1] == "pulumi-plugin.json" {
				return filepath.Join(d.Location, parts[0], parts[1])
			}
		}
	}
	// Without a RECORD (egg-info installs), follow the convention that pulumi-foo installs module pulumi_foo.
	return filepath.Join(d.Location, strings.ReplaceAll(d.Name, "-", "_"), "pulumi-plugin.json")
}

// packageDependency returns the resource plugin a distribution needs, or nil when it needs none.
func packageDependency(d distribution) (*pulumirpc.PackageDependency, error) {
	key := normalizeName(d.Name)
	if packagesWithoutPlugins[key] {
		return nil, nil
	}

	path := d.pluginJSONPath()
	meta, err := plugin.LoadPulumiPluginJSON(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		meta = nil
	case err != nil:
		return nil, fmt.Errorf("reading %s of Python package %s: %w; reinstall the package", path, d.Name, err)
	}

	if meta == nil && !strings.HasPrefix(key, "pulumi-") {
		return nil, nil // not a Pulumi package
	}
	if meta != nil && !meta.Resource {
		return nil, nil
	}

	dep := &pulumirpc.PackageDependency{Kind: "resource"}
	if meta != nil {
		dep.Name, dep.Version, dep.Server = meta.Name, meta.Version, meta.Server
		if p := meta.Parameterization; p != nil {
			dep.Parameterization = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
		if p := meta.ExtensionParameterization; p != nil {
			dep.Extension = &pulumirpc.PackageParameterization{Name: p.Name, Version: p.Version, Value: p.Value}
		}
	}
	if dep.Name == "" {
		dep.Name = strings.TrimPrefix(key, "pulumi-")
	}
	if dep.Version == "" {
		v, err := pluginVersionFromPEP440(d.Version)
		if err != nil {
			// Some pre-releases map to no plugin version we can name; the engine then installs the plugin on
			// demand when the program first registers a resource of it, so skipping is safe.
			logging.V(5).Infof("no plugin version for %s %s: %v", d.Name, d.Version, err)
			return nil, nil
		}
		dep.Version = v
	}
	if !strings.HasPrefix(dep.Version, "v") {
		dep.Version = "v" + dep.Version
	}
	return dep, nil
}

// requiredPackages lists the resource plugins of the Pulumi packages installed for the project.
func (p *pythonProject) requiredPackages(ctx context.Context) ([]*pulumirpc.PackageDependency, error) {
	dirs, err := p.sitePackages(ctx)
	if err != nil {
		return nil, err
	}
	dists, err := installedDistributions(dirs)
	if err != nil {
		return nil, err
	}
	var deps []*pulumirpc.PackageDependency
	for _, d := range dists {
		dep, err := packageDependency(d)
		if err != nil {
			return nil, err
		}
		if dep != nil {
			deps = append(deps, dep)
		}
	}
	return deps, nil
}

// topLevel drops every distribution that another installed distribution requires, which is what
// `pip list --not-required` shows: the packages someone installed on purpose.
func topLevel(dists []distribution) []distribution {
	required := map[string]bool{}
	for _, d := range dists {
		for _, r := range d.requires {
			if r != normalizeName(d.Name) {
				required[r] = true
			}
		}
	}
	var out []distribution
	for _, d := range dists {
		if !required[normalizeName(d.Name)] {
			out = append(out, d)
		}
	}
	return out
}

var releasePattern = regexp.MustCompile(`^(\d+(?:\.\d+)*)`)

// pluginVersionFromPEP440 converts the version of a Python package to the semver of its plugin:
// 1.2 -> 1.2.0, 1.2.3a4 -> 1.2.3-alpha.4, 1.2.3b4 -> 1.2.3-beta.4, 1.2.3rc4 -> 1.2.3-rc.4,
// 1.2.3.post4 -> 1.2.3+post4, 1.2.3.dev5 -> 1.2.3+dev5, 1.2.3.post4.dev5 -> 1.2.3+post4dev5.
// Epochs, local versions and releases with more than three numbers have no semver equivalent.
func pluginVersionFromPEP440(v string) (string, error) {
	if strings.Contains(v, "!") {
		return "", fmt.Errorf("version %q has an epoch, which semver cannot express", v)
	}
	if strings.Contains(v, "+") {
		return "", fmt.Errorf("version %q is a local version, which names no released plugin", v)
	}
	m := releasePattern.FindString(v)
	if m == "" {
		return "", fmt.Errorf("version %q does not start with a release number", v)
	}
	segments := strings.Split(m, ".")
	if len(segments) > 3 {
		return "", fmt.Errorf("version %q has more than three release numbers", v)
	}
	for len(segments) < 3 {
		segments = append(segments, "0")
	}
	for i, s := range segments {
		segments[i] = strings.TrimLeft(s, "0")
		if segments[i] == "" {
			segments[i] = "0"
		}
	}
	result := strings.Join(segments, ".")
	rest := v[len(m):]

	number := func(s string) (string, string) {
		i := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		return s[:i], s[i:]
	}

	for _, pre := range []struct{ tag, name string }{{"rc", "rc"}, {"a", "alpha"}, {"b", "beta"}} {
		if strings.HasPrefix(rest, pre.tag) {
			var n string
			n, rest = number(rest[len(pre.tag):])
			if n == "" {
				return "", fmt.Errorf("version %q has a pre-release without a number", v)
			}
			result += "-" + pre.name + "." + n
			break
		}
	}

	build := ""
	if strings.HasPrefix(rest, ".post") {
		var n string
		n, rest = number(rest[len(".post"):])
		build += "post" + n
	}
	if strings.HasPrefix(rest, ".dev") {
		var n string
		n, rest = number(rest[len(".dev"):])
		build += "dev" + n
	}
	if rest != "" {
		return "", fmt.Errorf("version %q has an unsupported suffix %q", v, rest)
	}
	if build != "" {
		result += "+" + build
	}
	return result, nil
}
