package workflow

import (
	"fmt"
	"strings"

	"github.com/rkodev/rko/internal/guest"
)

// Verdict is the one-line outcome of a guest run.
type Verdict struct {
	Passed bool   `json:"passed"`
	Reason string `json:"reason,omitempty"`
	// Step is the step that failed or was running when the guest died.
	Step string `json:"step,omitempty"`
	// Notes name what could not run on this kernel (KernelNotes), such
	// as KUnit suites on a kernel without KUnit; they do not fail a run.
	Notes []string `json:"notes,omitempty"`
	// Forged are lines shaped like the guest init's frames that the init
	// did not write (a module's printk, a test's echo to /dev/kmsg): they
	// count for nothing but fail the run, since code under test tried to
	// speak for the init (docs/guest-protocol.md).
	Forged []Forged `json:"forged,omitempty"`
}

// Forged is a forged frame: the step during which it was printed, the
// console line, and why it is not the init's.
type Forged struct {
	Step string `json:"step"`
	Line string `json:"line"`
	Why  string `json:"why"`
}

// Judge decides a run: it passes only when the guest booted, ran every
// step to a good end and powered off, no crash was reported and no test
// failed. crashTitle is the primary crash's title ("" if none);
// failedTests is the number of failed or crashed KUnit tests.
func Judge(tr *TestRun, crashTitle string, failedTests int) Verdict {
	v := judge(tr, crashTitle, failedTests)
	if s := tr.Session; s != nil {
		for _, f := range s.Forged {
			v.Forged = append(v.Forged, Forged{Step: f.Step, Line: f.Line, Why: f.Why})
		}
	}
	return v
}

func judge(tr *TestRun, crashTitle string, failedTests int) Verdict {
	s := tr.Session
	boot := tr.Boot
	withCrash := func(msg string) string {
		if crashTitle != "" {
			return msg + ": " + crashTitle
		}
		return msg
	}
	if boot != nil && boot.Flooded {
		v := Verdict{Reason: withCrash("the guest flooded its console and was stopped")}
		if s == nil {
			return v
		}
		if r := s.Running(); r != nil {
			v.Step, v.Reason = r.Name, withCrash(fmt.Sprintf("the guest flooded its console in step %q and was stopped", r.Name))
		}
		return v
	}
	if boot != nil && boot.TimedOut {
		where := "before the guest init started"
		v := Verdict{}
		if s != nil && s.Booted {
			where = "after the last step"
			if r := s.Running(); r != nil {
				where, v.Step = fmt.Sprintf("in step %q", r.Name), r.Name
			}
		}
		v.Reason = withCrash(fmt.Sprintf("guest hung %s and was stopped after %s", where, boot.Duration.Round(1e9)))
		return v
	}
	if s == nil || !s.Booted {
		return Verdict{Reason: withCrash("the kernel did not start the guest init (boot failed)")}
	}
	if r := s.Running(); r != nil {
		return Verdict{Step: r.Name, Reason: withCrash(fmt.Sprintf("guest died in step %q", r.Name))}
	}
	if s.Error != "" {
		return Verdict{Reason: "guest init: " + s.Error}
	}
	for _, st := range s.Steps {
		if st.Status == "failed" {
			msg := fmt.Sprintf("step %q failed (%s)", st.Name, describeStep(st))
			if st.Kind == "rmmod" {
				msg = fmt.Sprintf("module did not unload: %s", describeStep(st))
			}
			return Verdict{Step: st.Name, Reason: withCrash(msg)}
		}
	}
	if !s.Done {
		return Verdict{Reason: withCrash("guest stopped before finishing the plan")}
	}
	if len(s.Forged) > 0 {
		f := s.Forged[0]
		where := "between steps"
		if f.Step != "" {
			where = fmt.Sprintf("during step %q", f.Step)
		}
		return Verdict{Step: f.Step, Reason: fmt.Sprintf("a forged frame was printed %s (%d in all): code under test printed a line shaped like the guest init's protocol", where, s.ForgedCount)}
	}
	if crashTitle != "" {
		return Verdict{Reason: "kernel reported: " + crashTitle}
	}
	if failedTests > 0 {
		return Verdict{Reason: fmt.Sprintf("%d KUnit test(s) failed", failedTests)}
	}
	return Verdict{Passed: true}
}

func describeStep(st guest.StepResult) string {
	var parts []string
	if st.Signal != "" {
		parts = append(parts, "killed by "+st.Signal)
	} else if st.RC != 0 {
		parts = append(parts, fmt.Sprintf("exit status %d", st.RC))
	}
	if st.Error != "" {
		parts = append(parts, st.Error)
	}
	if n := len(st.Output); n > 0 {
		parts = append(parts, strings.TrimSpace(st.Output[n-1]))
	}
	return strings.Join(parts, ": ")
}
