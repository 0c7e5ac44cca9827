package demo

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/breeze-mesh/breeze/examples/mesh"
)

// The control plane's configuration is examples/mesh, read where it lies when the demo runs
// inside the repository, so that editing the MetaRouter there moves the demo's traffic.
// Only the service file is the demo's own: its instances listen on the ports the demo
// picked, not on the fixed ones of the example.

// meshServiceFile is the file of examples/mesh that the demo replaces with its rendering of
// serviceTemplate.
const meshServiceFile = "greeter-service.yaml"

// serviceTemplate is the Greeter's ServiceEntry and WorkloadEntries, with the ports left as
// template fields.
//
//go:embed greeter-service.yaml.tmpl
var serviceTemplate string

// repoMesh is where the mesh configuration sits in the repository.
var repoMesh = filepath.Join("examples", "mesh")

// findMesh returns the directory of mesh configuration to run and whether it is the
// caller's own (requested, or the repository's, found from the working directory upwards)
// rather than a copy of the embedded files, written under workDir.
func findMesh(requested, workDir string) (dir string, live bool, err error) {
	if requested != "" {
		if _, err := os.Stat(requested); err != nil {
			return "", false, fmt.Errorf("mesh configuration: %w", err)
		}
		return requested, true, nil
	}
	if wd, err := os.Getwd(); err == nil {
		for d := wd; ; d = filepath.Dir(d) {
			candidate := filepath.Join(d, repoMesh)
			if _, err := os.Stat(filepath.Join(candidate, meshServiceFile)); err == nil {
				return candidate, true, nil
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	dir = filepath.Join(workDir, "mesh")
	if err := os.CopyFS(dir, mesh.Files); err != nil {
		return "", false, fmt.Errorf("write the mesh configuration: %w", err)
	}
	return dir, false, nil
}

// meshFiles lists the configuration files of dir for the control plane: every YAML file
// but the service file.
func meshFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, ".") || name == meshServiceFile {
			continue
		}
		if ext := filepath.Ext(name); ext == ".yaml" || ext == ".yml" {
			out = append(out, filepath.Join(dir, name))
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no mesh configuration in %s", dir)
	}
	slices.Sort(out)
	return out, nil
}

// controlArgs are the arguments of `breeze control`: every mesh file and the demo's service
// file, and where to serve xDS.
func controlArgs(files []string, serviceFile, xdsAddr string) []string {
	args := []string{"control", "--xds-address", xdsAddr, "--log-level", "warn"}
	for _, f := range append(slices.Clone(files), serviceFile) {
		args = append(args, "--config-dir", f)
	}
	return args
}
