// Command roam-healthcheck is the probe the roam images run as a container
// healthcheck, since the distroless runtime image has no shell and no curl
// (deploy/Dockerfile, deploy/compose/docker-compose.yml):
//
//	roam-healthcheck http://127.0.0.1:7440/readyz
//
// It GETs the one URL it is given, prints the status and up to 1 KB of the
// body, and exits 0 on a 2xx answer, 1 otherwise (2 on bad usage). It
// follows no redirects and gives up after --timeout (default 3s).
// Kubernetes probes call /readyz and /healthz themselves (httpGet) and do
// not need it.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("roam-healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: roam-healthcheck [--timeout 3s] http://HOST:PORT/PATH")
		return 2
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(stderr, "roam-healthcheck: %q is not an http:// or https:// URL with a host\n", fs.Arg(0))
		return 2
	}
	if *timeout <= 0 {
		fmt.Fprintln(stderr, "roam-healthcheck: --timeout must be positive")
		return 2
	}
	c := &http.Client{
		Timeout:       *timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return errors.New("redirects are not followed") },
	}
	resp, err := c.Get(u.String())
	if err != nil {
		fmt.Fprintln(stderr, "roam-healthcheck:", err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	fmt.Fprintf(stdout, "%s: %s", resp.Status, body)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return 1
	}
	return 0
}
