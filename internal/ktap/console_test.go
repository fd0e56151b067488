package ktap

import (
	"strings"
	"testing"
)

// leaves flattens a tree into "suite.test=status" strings.
func leaves(t *Test) []string {
	var out []string
	t.Leaves(func(path []string, l *Test) {
		out = append(out, strings.Join(append(path, l.Name), ".")+"="+l.Status.String())
	})
	return out
}

func TestConsole(t *testing.T) {
	tests := []struct {
		name   string
		log    string
		counts Counts
		leaves string
	}{
		{
			name: "boot doctests then a module suite, with frames and timestamps",
			log: `[    0.500000] KTAP version 1
[    0.500001] 1..1
[    0.500002]     KTAP version 1
[    0.500003]     # Subtest: rust_doctests_kernel
[    0.500004]     1..2
[    0.500005]     ok 1 rust_doctest_kernel_a
[    0.500006]     ok 2 rust_doctest_kernel_b
[    0.500007] # rust_doctests_kernel: pass:2 fail:0 skip:0 total:2
[    0.500008] ok 1 rust_doctests_kernel
[    1.000000] @@rko {"ev":"start","step":"insmod ring"}
[    1.100000]     KTAP version 1
[    1.100001]     # Subtest: ring
[    1.100002]     # module: ring
[    1.100003]     1..3
[    1.100004]     # ring_push: EXPECTATION FAILED at ring.c:10
[    1.100005]     not ok 1 ring_push
[    1.100006]     ok 2 ring_pop # SKIP needs hardware
[    1.100007]     not ok 3 ring_todo # TODO not done yet
[    1.100008] not ok 1 ring
[    1.200000] @@rko {"ev":"end","step":"insmod ring","rc":0}
`,
			counts: Counts{Passed: 2, Failed: 2, Skipped: 1},
			leaves: "rust_doctests_kernel.rust_doctest_kernel_a=passed rust_doctests_kernel.rust_doctest_kernel_b=passed ring.ring_push=failed ring.ring_pop=skipped ring.ring_todo=failed",
		},
		{
			name: "cut off by a crash",
			log: `[    1.100000]     KTAP version 1
[    1.100001]     # Subtest: ring
[    1.100003]     1..3
[    1.100005]     ok 1 ring_push
[    1.200000] BUG: kernel NULL pointer dereference, address: 0000000000000000
[    1.200001] Oops: Oops: 0002 [#1] SMP NOPTI
`,
			counts: Counts{Passed: 1, Crashed: 2, Errors: 3},
			leaves: "ring.ring_push=passed ring.=crashed ring.=crashed",
		},
		{
			name: "caller ids and syslog levels",
			log: `<6>[    1.1][    T1] KTAP version 1
<6>[    1.1][    T1] 1..1
<6>[    1.1][    T1]     # Subtest: s
<6>[    1.1][    T1]     1..1
<6>[    1.1][    T1]     ok 1 - t
<6>[    1.1][    T1] ok 1 - s
`,
			counts: Counts{Passed: 1},
			leaves: "s.t=passed",
		},
		{
			name:   "no ktap",
			log:    "[    0.000000] Linux version 7.3\n",
			counts: Counts{Errors: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := Parse([]byte(tt.log), Options{})
			if root.Counts != tt.counts {
				t.Errorf("counts = %+v, want %+v", root.Counts, tt.counts)
			}
			if got := strings.Join(leaves(root), " "); got != tt.leaves {
				t.Errorf("leaves:\n got %s\nwant %s", got, tt.leaves)
			}
		})
	}
}

func TestDirectivesAndAttributes(t *testing.T) {
	log := "KTAP version 1\n1..1\n  KTAP version 1\n  # Subtest: suite\n  # module: example\n  1..2\n  # test.speed: slow\n  ok 1 test\n  not ok 2 todo # TODO later\nok 1 suite\n"
	root := Parse([]byte(log), Options{})
	suite := root.Subtests[0]
	if suite.Attributes["module"] != "example" {
		t.Errorf("suite attributes = %v, want module=example", suite.Attributes)
	}
	if got := suite.Subtests[0].Attributes["speed"]; got != "slow" {
		t.Errorf("test speed = %q, want slow", got)
	}
	todo := suite.Subtests[1]
	if todo.Directive != "TODO" || todo.Reason != "later" {
		t.Errorf("todo directive = %q %q, want TODO later", todo.Directive, todo.Reason)
	}
}

// TestRealConsole reads a real rko console: a 7.3 kernel booting with the
// Rust doctests and KUnit suites built in (357 tests, all kunit.py sees as
// it stops after the first stream), then two modules, hello (Rust,
// #[kunit_tests]) and hello_c (C KUnit), each printing its own KTAP stream
// at insmod, with @@rko guest frames in between.
func TestRealConsole(t *testing.T) {
	data := readFile(t, "testdata/console/hello-doctests.log")
	root := Parse(data, Options{})
	if want := (Counts{Passed: 361}); root.Counts != want {
		t.Errorf("counts = %+v, want %+v", root.Counts, want)
	}
	var names []string
	for _, s := range root.Subtests {
		names = append(names, s.Name)
	}
	if got := strings.Join(names[len(names)-2:], ","); got != "hello,hello_c" {
		t.Errorf("last suites = %s, want hello,hello_c", got)
	}
	hello := root.Subtests[len(root.Subtests)-2]
	if hello.Attributes["speed"] != "normal" || hello.Subtests[0].Attributes["speed"] != "normal" {
		t.Errorf("hello attributes = %v / %v", hello.Attributes, hello.Subtests[0].Attributes)
	}
	if got := root.Subtests[len(root.Subtests)-1].Attributes["module"]; got != "hello_c" {
		t.Errorf("hello_c module attribute = %q", got)
	}
	if c := Parse(data, Options{Compat: true}).Counts; c != (Counts{Passed: 357}) {
		t.Errorf("compat counts = %+v, want 357 passed as kunit.py", c)
	}
}
