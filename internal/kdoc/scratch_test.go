package kdoc

import (
	"fmt"
	"testing"
)

func TestScratch(t *testing.T) {
	ix, err := LoadIndex("/tmp/ra/rd/out")
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range ix.Items {
		fmt.Printf("%-8s %-30s %-40s %q\n", it.Kind, it.Path(), it.Href, it.Doc)
	}
}
