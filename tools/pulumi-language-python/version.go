package main

import (
	"runtime/debug"
	"strings"
)

const sdkModulePath = "github.com/pulumi/pulumi/sdk/v3"

// version may be stamped at build time with -ldflags "-X main.version=3.274.1". A plain `go build` leaves it
// empty, and the host then reports the version of the Pulumi SDK module it was built against, which is the
// Pulumi release whose protocol it speaks.
var version string

func pluginVersion() string {
	if version != "" {
		return strings.TrimPrefix(version, "v")
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		if v := sdkVersionFromBuildInfo(info); v != "" {
			return v
		}
	}
	// Semver-valid so the CLI can still parse it; signals a build without module information.
	return "0.0.0-dev"
}

func sdkVersionFromBuildInfo(info *debug.BuildInfo) string {
	for _, dep := range info.Deps {
		if dep.Path != sdkModulePath {
			continue
		}
		v := dep.Version
		if dep.Replace != nil && dep.Replace.Version != "" {
			v = dep.Replace.Version
		}
		if v == "" || v == "(devel)" {
			return ""
		}
		return strings.TrimPrefix(v, "v")
	}
	return ""
}
