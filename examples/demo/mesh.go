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
// inside the repository, so that editing a MetaRouter there moves the demo's traffic.
// Only the service files are the demo's own: its instances listen on the ports the demo
// picked, not on the fixed ones of the example.

// meshServiceFile is the Dubbo Greeter's service file, the one by which findMesh recognises
// the repository's examples/mesh.
const meshServiceFile = "greeter-service.yaml"

// The ServiceEntries and WorkloadEntries of the Greeters, with the ports left as template
// fields.
var (
	//go:embed greeter-service.yaml.tmpl
	dubboServiceTemplate string
	//go:embed thrift-greeter-service.yaml.tmpl
	thriftServiceTemplate string
)

// serviceTemplates maps each service file of examples/mesh that the demo replaces to the
// template of its replacement.
var serviceTemplates = map[string]string{
	meshServiceFile:               dubboServiceTemplate,
	"thrift-greeter-service.yaml": thriftServiceTemplate,
}

// metaRouterFiles are the MetaRouters of examples/mesh that the demo's traffic exercises
// and a user edits while it runs.
var metaRouterFiles = []string{"greeter-metarouter.yaml", "thrift-greeter-metarouter.yaml"}

// serviceHosts maps the hosts of the demo's services to their protocols, to tell apart
// the proxy's listeners and clusters in its metrics.
var serviceHosts = map[string]string{
	"org.apache.dubbo.sample.greeter": Dubbo,
	"thrift.sample.greeter":           Thrift,
}

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
// but the service files the demo replaces.
func meshFiles(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		name := e.Name()
		if _, replaced := serviceTemplates[name]; e.IsDir() || strings.HasPrefix(name, ".") || replaced {
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
// files, and where to serve xDS.
func controlArgs(files, serviceFiles []string, xdsAddr string) []string {
	args := []string{"control", "--xds-address", xdsAddr, "--log-level", "warn"}
	for _, f := range slices.Concat(files, serviceFiles) {
		args = append(args, "--config-dir", f)
	}
	return args
}
