package workflow

import (
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/rkodev/rko/internal/cache"
)

// NewRunDir makes a directory for one run's artefacts under the cache,
// keeping the newest 30.
func NewRunDir(name string) (string, error) {
	root, err := cache.Sub("runs")
	if err != nil {
		return "", err
	}
	pruneRuns(root, 30)
	return os.MkdirTemp(root, time.Now().Format("20060102-150405")+"-"+name+"-")
}

func pruneRuns(root string, keep int) {
	ents, _ := os.ReadDir(root)
	if len(ents) <= keep {
		return
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents[:len(ents)-keep] {
		os.RemoveAll(filepath.Join(root, e.Name()))
	}
}
