package main

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/model"
	"github.com/breeze-mesh/breeze/control/source/file"
	"github.com/breeze-mesh/breeze/control/translate"
	"github.com/breeze-mesh/breeze/protocol"
)

// errProblems makes the command exit 1 after the problems were printed.
var errProblems = errors.New("the configuration has errors")

func newAnalyzeCommand() *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "analyze <file or dir>...",
		Short: "Check Aeraki/Istio YAML the way breeze control reads it, for CI pipelines",
		Long: `Check configuration files offline with the same validation breeze control applies:
YAML syntax, field names and types, references between objects (hosts, ports, subsets), and
what a proxy in each namespace would be sent. Every problem is printed as
file:line: object: field: message; hint. The exit status is 1 when there are errors (or,
with --strict, warnings), 0 otherwise.`,
		Example: `  breeze analyze examples/mesh
  breeze analyze --strict deploy/mesh/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			problems := analyze(args)
			if failed := report(cmd.OutOrStdout(), cmd.ErrOrStderr(), problems, strict); failed {
				cmd.SilenceErrors = true
				return errProblems
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	return cmd
}

// analyze loads the files, builds the model and translates it for a proxy in each
// namespace that appears in the configuration.
func analyze(paths []string) config.Problems {
	objs, problems := file.New(paths...).Load()
	m := model.Build(objs, model.Options{Codecs: protocol.Names()})
	problems = append(problems, m.Problems...)
	problems = append(problems, translate.Dropped(m, translate.ProxyFeatures)...)

	var namespaces []string
	for _, o := range objs {
		if o.Namespace != "" {
			namespaces = append(namespaces, o.Namespace)
		}
	}
	slices.Sort(namespaces)
	for _, ns := range slices.Compact(namespaces) {
		p := &model.Proxy{ID: "analyze", Namespace: ns}
		p.ApplyDefaults()
		for _, pp := range translate.ForProxy(m, p, translate.ProxyFeatures).Problems {
			pp.Message = "a proxy in namespace " + ns + ": " + pp.Message
			problems = append(problems, pp)
		}
	}
	problems.Sort()
	return problems
}

// report prints the problems and a summary; it returns whether the check failed.
func report(out, summary io.Writer, problems config.Problems, strict bool) bool {
	for _, p := range problems {
		fmt.Fprintln(out, p.String())
	}
	errs := problems.Errors()
	warnings := len(problems) - errs
	switch {
	case len(problems) == 0:
		fmt.Fprintln(summary, "no problems found")
	default:
		fmt.Fprintf(summary, "%d error(s), %d warning(s)\n", errs, warnings)
	}
	return errs > 0 || (strict && warnings > 0)
}
