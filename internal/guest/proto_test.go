package guest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"strings"
	"testing"
)

// The guest init is a standalone program (built from embedded source with
// the standard library only), so it keeps its own copy of Step. This test
// keeps the two copies' JSON fields identical.
func TestInitStepMatchesHostStep(t *testing.T) {
	src, err := initSource.ReadFile("init/main.go")
	if err != nil {
		t.Fatal(err)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "main.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var guestTags []string
	ast.Inspect(f, func(n ast.Node) bool {
		ts, ok := n.(*ast.TypeSpec)
		if !ok || ts.Name.Name != "Step" {
			return true
		}
		for _, fld := range ts.Type.(*ast.StructType).Fields.List {
			for _, name := range fld.Names {
				guestTags = append(guestTags, name.Name+" "+strings.Trim(fld.Tag.Value, "`"))
			}
		}
		return false
	})
	var hostTags []string
	st := reflect.TypeOf(Step{})
	for i := 0; i < st.NumField(); i++ {
		hostTags = append(hostTags, st.Field(i).Name+" "+string(st.Field(i).Tag))
	}
	if !reflect.DeepEqual(guestTags, hostTags) {
		t.Errorf("guest init's Step differs from the host's:\n init: %q\n host: %q", guestTags, hostTags)
	}
}
