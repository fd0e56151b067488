package lint

import (
	"path/filepath"
	"strings"
)

// MaySleepFunctions are free functions that may sleep (rust/kernel of
// Linux 7.3: time::delay::fsleep, task::might_sleep, sync::rcu::synchronize_rcu
// and rcu_barrier; the rest are the C names reachable through helpers).
var MaySleepFunctions = []string{"fsleep", "msleep", "ssleep", "usleep_range", "might_sleep",
	"synchronize_rcu", "rcu_barrier", "schedule", "cond_resched", "copy_from_user", "copy_to_user"}

// MaySleepMethods are method names that may sleep whatever the receiver:
// CondVar waits (sync/condvar.rs), Completion::wait_for_completion
// (sync/completion.rs), the user-copy methods of UserSliceReader and
// UserSliceWriter (uaccess.rs: a page fault may sleep) and
// Revocable::revoke (revocable.rs: waits for an RCU grace period).
var MaySleepMethods = []string{"wait", "wait_interruptible", "wait_interruptible_freezable",
	"wait_interruptible_timeout", "wait_for_completion",
	"read_all", "read_raw", "read_slice", "read_slice_partial", "read_slice_file",
	"write_slice", "write_slice_partial", "write_slice_file", "write_dma", "strcpy_into_buf",
	"revoke"}

// Besides these lists: Mutex::lock (a .lock() on a field or variable
// declared as Mutex<..>), .read()/.write() on a receiver named *reader* or
// *writer*, and any call that passes GFP_KERNEL (allocation that may
// reclaim: KBox::new, KVec::push, reserve, with_capacity, Arc::new, ...).

var condvarWaits = map[string]bool{"wait": true, "wait_interruptible": true,
	"wait_interruptible_freezable": true, "wait_interruptible_timeout": true}

var (
	maySleepFn     = toSet(MaySleepFunctions)
	maySleepMethod = toSet(MaySleepMethods)
)

func toSet(l []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range l {
		m[s] = true
	}
	return m
}

// lockFacts records, per module directory (the nearest directory with a
// Makefile or Kbuild), which field and variable names hold a SpinLock and
// which a Mutex. A name seen as both is dropped: the rule does not guess.
type lockFacts struct {
	spin, mutex map[string]map[string]bool // group -> names
}

func (lf *lockFacts) kind(group, name string) string {
	s, m := lf.spin[group][name], lf.mutex[group][name]
	switch {
	case s && !m:
		return "spin"
	case m && !s:
		return "mutex"
	}
	return ""
}

// findModuleGroup is the module a file in dir belongs to: the nearest
// directory at or above dir with a Makefile or Kbuild, else dir. Lock facts
// are shared within a module.
func findModuleGroup(dir string) string {
	for d := dir; ; {
		if fileExists(filepath.Join(d, "Makefile")) || fileExists(filepath.Join(d, "Kbuild")) {
			return d
		}
		up := filepath.Dir(d)
		if up == d {
			return dir
		}
		d = up
	}
}

func gatherLockFacts(ts []target, files []*File) *lockFacts {
	lf := &lockFacts{spin: map[string]map[string]bool{}, mutex: map[string]map[string]bool{}}
	add := func(m map[string]map[string]bool, g, name string) {
		if m[g] == nil {
			m[g] = map[string]bool{}
		}
		m[g][name] = true
	}
	classify := func(typ string) string {
		switch {
		case strings.Contains(typ, "SpinLock"):
			return "spin"
		case strings.Contains(typ, "Mutex"):
			return "mutex"
		}
		return ""
	}
	for i, f := range files {
		if f == nil {
			continue
		}
		g := ts[i].group
		note := func(name, kind string) {
			switch kind {
			case "spin":
				add(lf.spin, g, name)
			case "mutex":
				add(lf.mutex, g, name)
			}
		}
		Walk(f.Root, func(n *Node) bool {
			switch n.Kind {
			case "field_declaration", "static_item", "let_declaration", "parameter":
				nm := n.ChildByField("name")
				if nm == nil {
					nm = n.ChildByField("pattern")
				}
				typ := n.ChildByField("type")
				if nm != nil && typ != nil {
					note(f.Text(nm), classify(f.Text(typ)))
				}
				if n.Kind == "let_declaration" && nm != nil && typ == nil {
					if v := n.ChildByField("value"); v != nil {
						note(f.Text(nm), classify(f.Text(v)))
					}
				}
			case "token_tree":
				// pin-init: `name <- new_spinlock!(..)` / `new_mutex!(..)`
				toks := tokenLeaves(n)
				for j := 0; j+2 < len(toks); j++ {
					if f.Text(toks[j+1]) == "<-" {
						switch {
						case strings.Contains(f.Text(toks[j+2]), "spinlock") || strings.Contains(f.Text(toks[j+2]), "SpinLock"):
							note(f.Text(toks[j]), "spin")
						case strings.Contains(f.Text(toks[j+2]), "mutex") || strings.Contains(f.Text(toks[j+2]), "Mutex"):
							note(f.Text(toks[j]), "mutex")
						}
					}
				}
				return false
			}
			return true
		})
	}
	return lf
}

// guard is a live atomic context: a spinlock guard, an RCU read guard or
// a LocalInterruptDisabled token.
type guard struct {
	name    string // variable, or "" for a parameter
	what    string // for the message
	line    int
	dropped bool
}

type sleepWalker struct {
	c     *checker
	group string
	extra map[string]bool
}

func checkSleepInAtomic(c *checker) {
	w := &sleepWalker{c: c, group: c.t.group, extra: c.t.cfg.maySleep}
	Walk(c.f.Root, func(n *Node) bool {
		if n.Kind != "function_item" {
			return true
		}
		body := n.ChildByField("body")
		if body == nil {
			return true
		}
		var gs []*guard
		if ps := n.ChildByField("parameters"); ps != nil {
			for p := ps.FirstChild; p != nil; p = p.Next {
				if p.Kind != "parameter" {
					continue
				}
				t := p.ChildByField("type")
				if t == nil {
					continue
				}
				tt := c.f.Text(t)
				if strings.Contains(tt, "SpinLockGuard") || strings.Contains(tt, "SpinLockIrqGuard") ||
					strings.Contains(tt, "SpinLockBackend") || strings.Contains(tt, "LocalInterruptDisabled") {
					gs = append(gs, &guard{what: "parameter " + c.f.Text(p), line: c.lineOf(p.Start)})
				}
			}
		}
		w.block(body, gs)
		return true // nested fns are visited on their own
	})
}

// block walks the statements of a block in order with the guards alive at
// its start; guards created inside die at its end.
func (w *sleepWalker) block(b *Node, outer []*guard) {
	gs := append([]*guard{}, outer...)
	for st := b.FirstChild; st != nil; st = st.Next {
		switch st.Kind {
		case "let_declaration":
			if v := st.ChildByField("value"); v != nil {
				w.expr(v, gs)
			}
			if alt := st.ChildByField("alternative"); alt != nil {
				w.expr(alt, gs)
			}
			if g := w.guardFrom(st); g != nil {
				gs = append(gs, g)
			}
		case "function_item", "line_comment", "block_comment", "{", "}":
		default:
			w.expr(st, gs)
		}
	}
}

// guardFrom recognises `let g = <spinlock>.lock();` and friends.
func (w *sleepWalker) guardFrom(let *Node) *guard {
	pat, v := let.ChildByField("pattern"), let.ChildByField("value")
	if pat == nil || v == nil {
		return nil
	}
	name := strings.TrimPrefix(w.c.f.Text(pat), "mut ")
	if strings.ContainsAny(name, "(){}[], ") {
		return nil
	}
	// strip ? and .unwrap()/.expect()
	for {
		if v.Kind == "try_expression" && v.FirstChild != nil {
			v = v.FirstChild
			continue
		}
		break
	}
	if what := w.atomicCall(v); what != "" {
		return &guard{name: name, what: what, line: w.c.lineOf(let.Start)}
	}
	return nil
}

// atomicCall returns a description when call n enters an atomic context
// whose guard is the call's value.
func (w *sleepWalker) atomicCall(n *Node) string {
	if n.Kind != "call_expression" {
		return ""
	}
	fn := n.ChildByField("function")
	if fn == nil {
		return ""
	}
	switch fn.Kind {
	case "field_expression":
		m := fn.ChildByField("field")
		recv := fn.ChildByField("value")
		if m == nil || recv == nil {
			return ""
		}
		switch w.c.f.Text(m) {
		case "lock", "try_lock", "lock_with", "try_lock_with":
			if r := receiverName(w.c, recv); r != "" && w.c.facts.kind(w.group, r) == "spin" {
				return "spinlock guard of " + w.c.f.Text(recv)
			}
		case "try_access":
			return "RCU read guard from " + w.c.f.Text(recv) + ".try_access()"
		}
	case "identifier", "scoped_identifier":
		switch lastSegment(w.c, fn) {
		case "local_interrupt_disable":
			return "local_interrupt_disable()"
		case "read_lock":
			if strings.Contains(w.c.f.Text(fn), "rcu") {
				return "rcu::read_lock()"
			}
		}
	}
	return ""
}

// receiverName is the last name in a receiver: self.inner -> inner.
func receiverName(c *checker, n *Node) string {
	switch n.Kind {
	case "field_expression":
		if f := n.ChildByField("field"); f != nil {
			return c.f.Text(f)
		}
	case "identifier":
		return c.f.Text(n)
	case "call_expression":
		// self.inner() accessor: use the method name
		if fn := n.ChildByField("function"); fn != nil {
			return receiverName(c, fn)
		}
	case "reference_expression", "parenthesized_expression", "unary_expression":
		if n.LastChild != nil {
			return receiverName(c, n.LastChild)
		}
	}
	return ""
}

func alive(gs []*guard) []*guard {
	var out []*guard
	for _, g := range gs {
		if !g.dropped {
			out = append(out, g)
		}
	}
	return out
}

// expr checks every call in n (closures excepted) against the guards.
func (w *sleepWalker) expr(n *Node, gs []*guard) {
	switch n.Kind {
	case "function_item":
		return // its own function, walked on its own
	case "closure_expression":
		// A closure may run later, so guards held where it is written do
		// not carry in; guards it takes itself are tracked in its body.
		if b := n.ChildByField("body"); b != nil {
			w.expr(b, nil)
		}
		return
	case "block":
		w.block(n, gs)
		return
	case "call_expression":
		w.call(n, gs)
	}
	for ch := n.FirstChild; ch != nil; ch = ch.Next {
		w.expr(ch, gs)
	}
}

func (w *sleepWalker) call(n *Node, gs []*guard) {
	c := w.c
	fn := n.ChildByField("function")
	args := n.ChildByField("arguments")
	if fn == nil {
		return
	}
	// drop(g) ends a guard.
	if (fn.Kind == "identifier" || fn.Kind == "scoped_identifier") && lastSegment(c, fn) == "drop" && args != nil {
		for a := args.FirstChild; a != nil; a = a.Next {
			if a.Kind == "identifier" {
				for _, g := range gs {
					if g.name == c.f.Text(a) {
						g.dropped = true
					}
				}
			}
		}
		return
	}
	live := alive(gs)
	// A temporary guard: x.spin.lock().foo(GFP_KERNEL) holds the lock for
	// the whole expression.
	if fn.Kind == "field_expression" {
		for r := fn.ChildByField("value"); r != nil; {
			if what := w.atomicCall(r); what != "" {
				live = append(live, &guard{what: "temporary " + what, line: c.lineOf(r.Start)})
				break
			}
			if r.Kind == "call_expression" {
				if f := r.ChildByField("function"); f != nil && f.Kind == "field_expression" {
					r = f.ChildByField("value")
					continue
				}
			}
			if r.Kind == "field_expression" || r.Kind == "try_expression" {
				r = r.FirstChild
				continue
			}
			break
		}
	}
	if len(live) == 0 {
		return
	}
	what := w.maySleep(fn, args)
	if what == "" {
		return
	}
	if fn.Kind == "field_expression" {
		if m := fn.ChildByField("field"); m != nil && condvarWaits[c.f.Text(m)] {
			// A CondVar wait releases the guard it is given.
			released := map[string]bool{}
			if args != nil {
				for a := args.FirstChild; a != nil; a = a.Next {
					if a.Named {
						released[strings.TrimPrefix(strings.TrimPrefix(c.f.Text(a), "&mut "), "&")] = true
					}
				}
			}
			var rest []*guard
			for _, g := range live {
				if !released[g.name] {
					rest = append(rest, g)
				}
			}
			if len(rest) == 0 {
				return
			}
			live = rest
		}
	}
	g := live[len(live)-1]
	c.report(n, "%s may sleep while the %s (line %d) is held", what, g.what, g.line)
}

// maySleep returns a description of why a call may sleep, or "".
func (w *sleepWalker) maySleep(fn, args *Node) string {
	c := w.c
	if args != nil {
		gfp := false
		for a := args.FirstChild; a != nil; a = a.Next {
			Walk(a, func(x *Node) bool {
				if x.Kind == "closure_expression" || x.Kind == "call_expression" {
					return false
				}
				if x.Kind == "identifier" && c.f.Text(x) == "GFP_KERNEL" {
					gfp = true
				}
				return true
			})
		}
		if gfp {
			return "allocation with GFP_KERNEL (" + shortCallee(c, fn) + ")"
		}
	}
	switch fn.Kind {
	case "identifier", "scoped_identifier":
		if s := lastSegment(c, fn); maySleepFn[s] || w.extra[s] {
			return s + "()"
		}
	case "field_expression":
		m := fn.ChildByField("field")
		recv := fn.ChildByField("value")
		if m == nil || recv == nil {
			return ""
		}
		name := c.f.Text(m)
		rn := receiverName(c, recv)
		switch {
		case maySleepMethod[name] || w.extra[name]:
			return "." + name + "()"
		case (name == "lock" || name == "lock_interruptible") && rn != "" && c.facts.kind(w.group, rn) == "mutex":
			return "Mutex lock " + c.f.Text(recv) + "." + name + "()"
		case (name == "read" || name == "write") && (strings.Contains(strings.ToLower(rn), "reader") || strings.Contains(strings.ToLower(rn), "writer")):
			return "user copy ." + name + "()"
		}
	}
	return ""
}

func shortCallee(c *checker, fn *Node) string {
	if fn.Kind == "field_expression" {
		if m := fn.ChildByField("field"); m != nil {
			return "." + c.f.Text(m) + "()"
		}
	}
	t := c.f.Text(fn)
	if len(t) > 40 {
		t = t[:40] + "..."
	}
	return t + "()"
}
