package proctest

import (
	"bufio"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// gone tells whether pid has ended (absent, or a zombie awaiting its reaper).
func gone(pid int) bool {
	st, ok := readStat(pid)
	return !ok || st.state == "Z"
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !gone(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
	}
}

// A grandchild, as nginx's worker is, dies with the test, whether or not the test waited for
// the process it started.
func TestCommandKillsTheGroup(t *testing.T) {
	for _, tc := range []struct {
		name   string
		waited bool
	}{{"LeaderRunning", false}, {"LeaderWaited", true}} {
		t.Run(tc.name, func(t *testing.T) {
			var grandchild int
			t.Run("Inner", func(t *testing.T) {
				// The shell starts a sleep in the background, prints its pid and, in the waited
				// case, exits at once, leaving the sleep an orphan of its group.
				script := "sleep 60 & echo $!; wait"
				if tc.waited {
					script = "sleep 60 & echo $!"
				}
				cmd := Command(t, "sh", "-c", script)
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				line, err := bufio.NewReader(out).ReadString('\n')
				if err != nil {
					t.Fatal(err)
				}
				if grandchild, err = strconv.Atoi(strings.TrimSpace(line)); err != nil {
					t.Fatal(err)
				}
				if tc.waited {
					if err := cmd.Wait(); err != nil {
						t.Fatal(err)
					}
				}
				if gone(grandchild) {
					t.Fatal("the grandchild ended before the test did")
				}
			})
			waitGone(t, grandchild)
		})
	}
}

// Leftovers names a child of the test binary that is still running, and a process of a group
// Command made.
func TestLeftovers(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	want := fmt.Sprintf("pid %d ", cmd.Process.Pid)
	if got := strings.Join(Leftovers(), "\n"); !strings.Contains(got, want+"ppid") || !strings.Contains(got, "sleep 60") {
		t.Fatalf("Leftovers() = %q, want a line for %s", got, want)
	}
}
