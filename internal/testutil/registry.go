package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// StartRegistry starts Debian's docker-registry (the distribution
// project's registry server, scripts/setup installs it) on a free
// loopback port, its storage in a temporary directory, with basic
// authentication from the htpasswd file's content when htpasswd is not
// empty. It returns the registry's address and its storage directory,
// and stops it at the end of the test. Without docker-registry the test
// is skipped, and fails in CI.
func StartRegistry(t testing.TB, htpasswd string) (addr, storage string) {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		if InCI() {
			t.Fatal("docker-registry is not installed (scripts/setup installs it)")
		}
		t.Skip("docker-registry is not installed: apt-get install docker-registry (scripts/setup)")
	}
	dir := t.TempDir()
	storage = filepath.Join(dir, "storage")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr = l.Addr().String()
	l.Close()
	cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n", storage, addr)
	if htpasswd != "" {
		os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(htpasswd), 0o600)
		cfg += fmt.Sprintf("auth:\n  htpasswd:\n    realm: rko-test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	cfgPath := filepath.Join(dir, "config.yml")
	os.WriteFile(cfgPath, []byte(cfg), 0o644)
	logPath := filepath.Join(dir, "registry.log")
	log, _ := os.Create(logPath)
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); log.Close() })
	for i := 0; i < 100; i++ {
		if resp, err := http.Get("http://" + addr + "/v2/"); err == nil {
			resp.Body.Close()
			return addr, storage
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, _ := os.ReadFile(logPath)
	t.Fatalf("docker-registry did not answer on %s in 5 s:\n%s", addr, b)
	return "", ""
}
