// Package proctest starts the external processes of tests (keyward itself, nginx, openssl,
// curl, kubectl) so that none outlives its test: each runs in a process group of its own, the
// whole group is killed when the test ends, and Main fails the run, naming them, when a process
// of such a group or a child of the test binary is still alive after the tests.
//
// Killing only the process a test started is not enough: nginx's master dies and its worker,
// in the same group, lives on as an orphan still listening.
package proctest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// groups holds the id of every process group this test binary created.
var groups sync.Map // int -> string (the command line, for the report)

// Command returns cmd for name and args to be run in a process group of its own; when tb ends,
// the group is killed (SIGKILL) and the process waited for if the test did not. The test
// starts it with Start, Run, Output or CombinedOutput as usual.
func Command(tb testing.TB, name string, args ...string) *exec.Cmd {
	tb.Helper()
	return CommandContext(tb, context.Background(), name, args...)
}

// CommandContext is Command with ctx ending the process as exec.CommandContext does; the
// whole group is killed, not only the process.
func CommandContext(tb testing.TB, ctx context.Context, name string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	tb.Cleanup(func() {
		if cmd.Process == nil {
			return // never started
		}
		killGroup(cmd)
		if cmd.ProcessState == nil {
			// Not waited for by the test: reap it. If a goroutine of the test waits for it,
			// this Wait fails at once and that goroutine reaps it.
			cmd.Wait()
		}
	})
	return cmd
}

// killGroup kills the process group of cmd, once started, and remembers it for Main's check.
// While the leader is not yet reaped its pid is ours, and so is the group of that id. Once it
// is, the id may be reused if the group emptied: then only the processes of that group in this
// session are killed, one by one.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	pid := cmd.Process.Pid // the group leader: its pid is the group's id
	groups.Store(pid, strings.Join(cmd.Args, " "))
	if cmd.ProcessState == nil {
		err := syscall.Kill(-pid, syscall.SIGKILL)
		if errors.Is(err, syscall.ESRCH) {
			return nil
		}
		return err
	}
	for _, p := range members(pid) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	return nil
}

// members returns the live processes of group pgid in this process's session.
func members(pgid int) []int {
	sid := ownSession()
	var out []int
	for _, pid := range pids() {
		if st, ok := readStat(pid); ok && st.state != "Z" && st.pgrp == pgid && st.session == sid {
			out = append(out, pid)
		}
	}
	return out
}

// ownSession returns the session id of this process.
func ownSession() int {
	st, _ := readStat(os.Getpid())
	return st.session
}

func pids() []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, pid)
		}
	}
	return out
}

// Main runs the tests of m, then fails the run, listing them, if a process of a group that
// Command created or a child of the test binary is still alive a few seconds later (killed
// processes need a moment to go). Use it as the package's TestMain: func TestMain(m
// *testing.M) { proctest.Main(m) }.
func Main(m *testing.M) {
	os.Exit(Run(m))
}

// Run is Main without the exit: it returns the exit code, for a TestMain with more to do.
func Run(m *testing.M) int {
	code := m.Run()
	var left []string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		left = Leftovers()
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: %d process(es) started by the tests outlived them:\n  %s\n",
			len(left), strings.Join(left, "\n  "))
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Leftovers lists the live processes (zombies excluded: they are dead, awaiting their reaper)
// that belong to a group Command created or whose parent is this process, one line each: pid,
// parent, group, command line.
func Leftovers() []string {
	self := os.Getpid()
	sid := ownSession()
	var out []string
	for _, pid := range pids() {
		if pid == self {
			continue
		}
		st, ok := readStat(pid)
		if !ok || st.state == "Z" {
			continue
		}
		_, ours := groups.Load(st.pgrp)
		if !(ours && st.session == sid) && st.ppid != self {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "cmdline"))
		line := strings.TrimSpace(strings.ReplaceAll(string(cmdline), "\x00", " "))
		if line == "" {
			line = "[" + st.comm + "]"
		}
		out = append(out, fmt.Sprintf("pid %d ppid %d pgid %d: %s", pid, st.ppid, st.pgrp, line))
	}
	sort.Strings(out)
	return out
}

type procStat struct {
	comm, state         string
	ppid, pgrp, session int
}

// readStat reads /proc/pid/stat: "pid (comm) state ppid pgrp session ...", comm possibly holding
// spaces and parentheses, hence the split at the last ')'.
func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procStat{}, false
	}
	s := string(b)
	open, closing := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || closing < open {
		return procStat{}, false
	}
	f := strings.Fields(s[closing+1:])
	if len(f) < 4 {
		return procStat{}, false
	}
	ppid, err1 := strconv.Atoi(f[1])
	pgrp, err2 := strconv.Atoi(f[2])
	session, err3 := strconv.Atoi(f[3])
	if err1 != nil || err2 != nil || err3 != nil {
		return procStat{}, false
	}
	return procStat{comm: s[open+1 : closing], state: f[0], ppid: ppid, pgrp: pgrp, session: session}, true
}
