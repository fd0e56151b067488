package kdoc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"
)

// DefaultAddr is where rko doc --serve listens unless told: the loopback
// interface only.
const DefaultAddr = "127.0.0.1:8000"

// Listen opens addr for Serve. An address without a host ("9000" or
// ":9000") means the loopback interface, not every interface; a port in
// use is an error that says how to pick another.
func Listen(addr string) (net.Listener, error) {
	if addr == "" {
		addr = DefaultAddr
	}
	if !strings.Contains(addr, ":") {
		addr = ":" + addr
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("--serve %q is not an address: want HOST:PORT, :PORT or PORT (e.g. %s)", addr, DefaultAddr)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	addr = net.JoinHostPort(host, port)
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%s is in use (another rko doc --serve, or another server): pick another port, e.g. rko doc --serve 127.0.0.1:0 for any free one", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("--serve %s: %w", addr, err)
	}
	return ln, nil
}

// URL is the address of the kernel crate's page on ln.
func URL(ln net.Listener) string {
	return "http://" + ln.Addr().String() + "/kernel/index.html"
}

// Serve serves the doc tree dir on ln until ctx ends.
func Serve(ctx context.Context, ln net.Listener, dir string) error {
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(shut)
		return nil
	}
}
