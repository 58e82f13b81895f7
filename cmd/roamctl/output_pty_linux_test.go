package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"unsafe"
)

// openPTY opens a pseudo-terminal pair (Linux /dev/ptmx), or skips the
// test where there is none.
func openPTY(t *testing.T) (master, tty *os.File) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		m.Close()
		t.Skipf("no pseudo-terminal: TIOCGPTN: %v", e)
	}
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, m.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		m.Close()
		t.Skipf("no pseudo-terminal: TIOCSPTLCK: %v", e)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return m, s
}

// runOnTTY runs roamctl with its standard output on a pseudo-terminal and
// returns what the terminal received (CRLF turned back into LF).
func runOnTTY(t *testing.T, args ...string) string {
	t.Helper()
	m, s := openPTY(t)
	defer m.Close()
	if !isTerminal(s) {
		s.Close()
		t.Fatal("the pseudo-terminal is not a terminal to isTerminal")
	}
	got := make(chan []byte)
	go func() {
		b, _ := io.ReadAll(m) // ends with EIO once the terminal side is closed
		got <- b
	}()
	root := newRoot()
	var errOut bytes.Buffer
	root.SetOut(s)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	s.Close()
	out := strings.ReplaceAll(string(<-got), "\r\n", "\n")
	if err != nil {
		t.Fatalf("roamctl %s: %v\n%s", strings.Join(args, " "), err, errOut.String())
	}
	return out
}

// TestColourOnTerminal: on a real terminal --color auto colours the verify
// banner and tables; NO_COLOR, --color never and --json do not.
func TestColourOnTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	addr, code := greenCodeNode(t)
	verify := []string{"--addr", addr, "verify", "--checkpoint", "metro", code}

	out := runOnTTY(t, verify...)
	if !strings.Contains(out, "\x1b[1;30;42m  PASS  通行") {
		t.Fatalf("verify on a terminal: no green PASS banner:\n%q", out)
	}
	plain, _ := runOut(t, verify...)
	if trimLines(stripANSI(out)) != trimLines(plain) {
		t.Fatalf("terminal output, escapes stripped:\n%s\nnon-terminal output:\n%s", stripANSI(out), plain)
	}
	if out := runOnTTY(t, "--addr", addr, "keys"); !strings.Contains(out, "\x1b[1mKID") || !strings.Contains(out, "\x1b[32mactive\x1b[0m") {
		t.Fatalf("keys on a terminal: no colour:\n%q", out)
	}
	if out := runOnTTY(t, append([]string{"--color", "never"}, verify...)...); strings.Contains(out, "\x1b") {
		t.Fatalf("--color never on a terminal: %q", out)
	}
	if out := runOnTTY(t, append([]string{"--json"}, verify...)...); strings.Contains(out, "\x1b") {
		t.Fatalf("--json on a terminal: %q", out)
	}
	t.Setenv("NO_COLOR", "1")
	if out := runOnTTY(t, verify...); strings.Contains(out, "\x1b") {
		t.Fatalf("NO_COLOR on a terminal: %q", out)
	}
}
