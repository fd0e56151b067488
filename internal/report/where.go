package report

import (
	"strconv"
	"strings"
)

// kmemleakPID reads the pid of kmemleak's `comm "init", pid 757, jiffies
// 4294894493` line, 0 if there is none.
func kmemleakPID(body []string) int {
	for _, l := range body {
		t := strings.TrimSpace(l)
		if !strings.HasPrefix(t, "comm \"") {
			continue
		}
		_, rest, ok := strings.Cut(t, "\", pid ")
		if !ok {
			return 0
		}
		rest, _, _ = strings.Cut(rest, ",")
		pid, err := strconv.Atoi(rest)
		if err != nil {
			return 0
		}
		return pid
	}
	return 0
}

// warningLocation pulls "file:line" out of both WARNING header formats:
// "WARNING: CPU: 0 PID: 1 at file:line func+..." and
// "WARNING: file:line at func+..., CPU#0: comm/pid".
func warningLocation(h string) string {
	h = strings.TrimPrefix(h, "WARNING: ")
	if strings.HasPrefix(h, "CPU: ") {
		i := strings.Index(h, " at ")
		if i < 0 {
			return ""
		}
		rest := h[i+4:]
		if j := strings.IndexByte(rest, ' '); j >= 0 {
			rest = rest[:j]
		}
		if strings.Contains(rest, ":") {
			return rest
		}
		return ""
	}
	if i := strings.Index(h, " at "); i > 0 && strings.Contains(h[:i], ":") && !strings.Contains(h[:i], " ") {
		return h[:i]
	}
	return ""
}

// warningWhere takes "file:line" from a WARNING header.
func warningWhere(r *Report, header string, _ []string) { r.Location = warningLocation(header) }

// ubsanWhere takes the "file:line:col" after UBSAN's " in ".
func ubsanWhere(r *Report, header string, _ []string) {
	if i := strings.Index(header, " in "); i >= 0 {
		r.Location = strings.TrimSpace(header[i+4:])
	}
}

// kernelBUGWhere takes the file:line of "kernel BUG at file:line!".
func kernelBUGWhere(r *Report, header string, _ []string) {
	r.Location = strings.TrimSuffix(strings.TrimPrefix(header, "kernel BUG at "), "!")
}

// rustWhere takes a Rust panic's location and its message, the line
// after the header.
func rustWhere(r *Report, header string, body []string) {
	loc := strings.TrimPrefix(header, "rust_kernel: panicked at ")
	r.Location = strings.TrimSuffix(strings.TrimSpace(loc), ":")
	for _, l := range body {
		if k, _ := classify(l); k != kNone || strings.HasPrefix(l, "------------[ cut here ]") {
			break
		}
		if r.Message == "" {
			r.Message = strings.TrimSpace(l)
		}
	}
}

// panicReason is the reason of a "Kernel panic - not syncing: REASON" line.
func panicReason(l string) (string, bool) {
	rest, ok := strings.CutPrefix(l, "Kernel panic - not syncing")
	if !ok {
		return "", false
	}
	return strings.TrimSpace(strings.TrimPrefix(rest, ":")), true
}
