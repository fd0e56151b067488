package mcpserver

import (
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/jsonschema-go/jsonschema"

	"github.com/rkodev/rko/internal/job"
	"github.com/rkodev/rko/internal/ktap"
	"github.com/rkodev/rko/internal/lint"
)

// typeSchemas are the schemas of the types whose JSON is not what their
// Go type says (they marshal themselves), and of ktap.Test, which holds
// itself (the schema generator refuses a cycle; its subtests are described
// one level deep). TestSchemasCoverMarshalers keeps the list complete.
var typeSchemas = map[reflect.Type]*jsonschema.Schema{
	reflect.TypeFor[job.Duration](): {Type: "string", Description: "a Go duration such as 90s or 3m0s"},
	reflect.TypeFor[ktap.Status](): {Type: "string", Enum: []any{"crashed", "passed", "failed", "skipped", "no_tests", "parse_failure"},
		Description: "the test's verdict"},
	reflect.TypeFor[lint.Severity](): {Type: "string", Enum: []any{"off", "note", "warning", "error"}},
	reflect.TypeFor[json.RawMessage](): {Type: "object",
		Description: "a whole job document (docs/schemas.md#the-job): schema, kernel, toolchain, modules, boot, plan"},
	reflect.TypeFor[ktap.Test](): {Types: []string{"null", "object"},
		Description: "a KTAP test or suite: name, number, status, directive, reason, attributes, line, counts, log, errors, and subtests (the same shape)",
		Properties: map[string]*jsonschema.Schema{
			"name":     {Type: "string"},
			"status":   {Type: "string"},
			"counts":   {Type: "object"},
			"subtests": {Types: []string{"null", "array"}, Items: &jsonschema.Schema{Type: "object"}},
		}},
}

// inputSchema is the input schema of In: inferred from the Go type with
// the type schemas above. A field without omitempty is required.
func inputSchema[In any]() *jsonschema.Schema {
	s, err := jsonschema.For[In](&jsonschema.ForOptions{TypeSchemas: typeSchemas})
	if err != nil {
		panic(fmt.Sprintf("mcpserver: input schema of %T: %v", *new(In), err))
	}
	return s
}

// outputSchema is the output schema of Out, with no required field: a
// document describes what rko writes, and parts of it are absent when
// they do not apply (a watch cycle whose module did not build has no test
// results), as in rko's --json output.
func outputSchema[Out any]() *jsonschema.Schema {
	s, err := jsonschema.For[Out](&jsonschema.ForOptions{TypeSchemas: typeSchemas})
	if err != nil {
		panic(fmt.Sprintf("mcpserver: output schema of %T: %v", *new(Out), err))
	}
	dropRequired(s)
	return s
}

// dropRequired clears "required" in s and every schema under it.
func dropRequired(s *jsonschema.Schema) {
	if s == nil {
		return
	}
	s.Required = nil
	for _, p := range s.Properties {
		dropRequired(p)
	}
	dropRequired(s.Items)
	dropRequired(s.AdditionalProperties)
	for _, d := range s.Defs {
		dropRequired(d)
	}
	for _, l := range [][]*jsonschema.Schema{s.AnyOf, s.OneOf, s.AllOf, s.PrefixItems} {
		for _, x := range l {
			dropRequired(x)
		}
	}
}
