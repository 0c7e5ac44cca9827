// Package file is the control plane's embedded configuration source: a directory of YAML
// files holding the objects users write for Aeraki and Istio (MetaRouter,
// ApplicationProtocol, ServiceEntry, WorkloadEntry, DestinationRule), several per file
// separated by "---", watched for changes.
//
// Reading is strict and local. Every problem is reported with the file, the line, the
// field's path and, where one is known, a hint ("did you mean exportTo?"). A document with
// errors is left out, and nothing else is: the other documents of the file and the other
// files keep working. When a document that was valid becomes invalid (a half-saved edit),
// its last valid version stays in effect, with a warning, until it is fixed or removed.
package file

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/fsnotify/fsnotify"

	"github.com/breeze-mesh/breeze/control/config"
	"github.com/breeze-mesh/breeze/control/source"
)

// MaxFileSize bounds one configuration file; a larger file is reported and skipped.
const MaxFileSize = 16 << 20

// Source reads configuration objects from files and directories.
type Source struct {
	paths []string

	mu sync.Mutex
	// files caches each file's outcome by content, so that a change to one file does not
	// re-parse the others, and remembers the last valid version of each object.
	files map[string]*fileState
}

var _ source.Source = (*Source)(nil)

// fileState is what is known about one file.
type fileState struct {
	sum      [sha256.Size]byte
	objects  []*config.Object
	problems config.Problems
	// lastGood holds, by object key, the last valid version of each object the file held.
	lastGood map[string]*config.Object
}

// New returns a source reading the given files and directories. Directories are read
// recursively: every *.yaml, *.yml and *.json file, except hidden files and directories
// (names starting with "."), which also skips the bookkeeping of Kubernetes ConfigMap
// volumes.
func New(paths ...string) *Source {
	return &Source{paths: paths, files: map[string]*fileState{}}
}

// Load reads every file, re-parsing only those whose content changed since the last Load.
func (s *Source) Load() ([]*config.Object, config.Problems) {
	s.mu.Lock()
	defer s.mu.Unlock()

	var problems config.Problems
	names, listProblems := s.list()
	problems = append(problems, listProblems...)

	seen := map[string]bool{}
	var objects []*config.Object
	owner := map[string]*config.Object{}
	for _, name := range names {
		seen[name] = true
		st := s.load(name)
		problems = append(problems, st.problems...)
		for _, obj := range st.objects {
			if first, dup := owner[obj.Key()]; dup {
				problems = append(problems, config.Problem{Severity: config.Error, File: obj.Origin.File,
					Line: obj.Origin.Line, Object: obj.String(), Field: "metadata.name",
					Message: fmt.Sprintf("also defined at %s:%d; this one is ignored", first.Origin.File, first.Origin.Line),
					Hint:    "rename or remove one of them"})
				continue
			}
			owner[obj.Key()] = obj
			objects = append(objects, obj)
		}
	}
	for name := range s.files {
		if !seen[name] {
			delete(s.files, name) // removed: its objects go with it
		}
	}
	config.SortObjects(objects)
	problems.Sort()
	return objects, problems
}

// list returns the files to read, sorted.
func (s *Source) list() ([]string, config.Problems) {
	var names []string
	var problems config.Problems
	for _, root := range s.paths {
		info, err := os.Stat(root)
		if err != nil {
			problems = append(problems, config.Problem{Severity: config.Error, File: root, Message: fmt.Sprintf("cannot read: %v", cleanErr(err))})
			continue
		}
		if !info.IsDir() {
			names = append(names, root)
			continue
		}
		err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				problems = append(problems, config.Problem{Severity: config.Error, File: path, Message: fmt.Sprintf("cannot read: %v", cleanErr(err))})
				return nil
			}
			if path != root && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if d.IsDir() || !isConfigFile(d.Name()) {
				return nil
			}
			// Follow symbolic links to files (ConfigMap volumes are made of them).
			if fi, err := os.Stat(path); err != nil || !fi.Mode().IsRegular() {
				return nil
			}
			names = append(names, path)
			return nil
		})
		if err != nil {
			problems = append(problems, config.Problem{Severity: config.Error, File: root, Message: fmt.Sprintf("cannot read: %v", err)})
		}
	}
	slices.Sort(names)
	return slices.Compact(names), problems
}

func isConfigFile(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml", ".json":
		return true
	}
	return false
}

// cleanErr drops the "open <path>: " prefix of a path error; the path is already printed.
func cleanErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// load returns the outcome of one file, from the cache when its content did not change.
func (s *Source) load(name string) *fileState {
	prev := s.files[name]
	data, err := readFile(name)
	if err != nil {
		st := &fileState{problems: config.Problems{{Severity: config.Error, File: name, Message: err.Error()}}}
		if prev != nil {
			// Keep what the file held: a file that cannot be read for a moment (being
			// replaced) should not take its services down.
			st.objects, st.lastGood = keepAll(prev, name, &st.problems)
		}
		s.files[name] = st
		return st
	}
	sum := sha256.Sum256(data)
	if prev != nil && prev.sum == sum {
		return prev
	}

	st := &fileState{sum: sum, lastGood: map[string]*config.Object{}}
	for _, p := range parseFile(name, data) {
		st.problems = append(st.problems, p.problems...)
		switch {
		case p.obj != nil:
			st.objects = append(st.objects, p.obj)
			st.lastGood[p.obj.Key()] = p.obj
		case p.key != "" && prev != nil && prev.lastGood[p.key] != nil:
			old := prev.lastGood[p.key]
			st.objects = append(st.objects, old)
			st.lastGood[p.key] = old
			st.problems = append(st.problems, config.Problem{Severity: config.Warning, File: name,
				Line: old.Origin.Line, Object: old.String(),
				Message: "its last valid version stays in effect until its errors are fixed"})
		}
	}
	s.files[name] = st
	return st
}

// keepAll carries a file's previous objects over when the file cannot be read.
func keepAll(prev *fileState, name string, problems *config.Problems) ([]*config.Object, map[string]*config.Object) {
	if len(prev.objects) > 0 {
		*problems = append(*problems, config.Problem{Severity: config.Warning, File: name,
			Message: "the objects last read from this file stay in effect"})
	}
	return prev.objects, prev.lastGood
}

func readFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", cleanErr(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("cannot read: %w", cleanErr(err))
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("the file is larger than %d MiB; split it", MaxFileSize>>20)
	}
	return data, nil
}

// Watch calls changed after every change under the source's paths: files written, created,
// renamed or removed, and directories added (which are then watched too). It returns when
// ctx is done.
func (s *Source) Watch(ctx context.Context, changed func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the config files: %w", err)
	}
	defer w.Close()
	for _, root := range s.paths {
		if err := addWatches(w, root); err != nil {
			return err
		}
	}
	// Anything written before the watches were in place has been missed: have it re-read.
	changed()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && !strings.HasPrefix(filepath.Base(ev.Name), ".") {
					_ = addWatches(w, ev.Name)
				}
			}
			if ev.Has(fsnotify.Chmod) && !ev.Has(fsnotify.Write) {
				continue // touching permissions changes no content
			}
			changed()
		case _, ok := <-w.Errors:
			if !ok {
				return nil
			}
			// Events may have been lost (a queue overflow): have everything re-read.
			changed()
		}
	}
}

// addWatches watches a directory and its sub-directories, or the directory of a file (so
// that replacing the file by renaming, as editors do, is seen).
func addWatches(w *fsnotify.Watcher, root string) error {
	info, err := os.Stat(root)
	if err != nil {
		// A path that does not exist yet: watch its parent, so its creation is seen.
		return watchDir(w, filepath.Dir(root))
	}
	if !info.IsDir() {
		return watchDir(w, filepath.Dir(root))
	}
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return watchDir(w, path)
	})
}

func watchDir(w *fsnotify.Watcher, dir string) error {
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	return nil
}
