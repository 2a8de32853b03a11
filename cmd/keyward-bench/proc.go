package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Every child process, database and directory the run creates registers its removal here, so
// that a fatal path undoes as much as the normal end does: nothing outlives the run.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// atExit registers f to run, last registered first, at the end of the run or on a fatal path.
// f must be safe to call twice: the normal path may already have run it.
func atExit(f func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, f)
}

// runCleanups runs (once) what atExit registered.
func runCleanups() {
	cleanupMu.Lock()
	fs := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

// fatalf reports what does not work, undoes the run and exits non-zero.
func fatalf(format string, args ...any) {
	log.Printf("keyward-bench: "+format, args...)
	runCleanups()
	os.Exit(1)
}

// toolCommand is exec.Command for a load generator: it dies with this process, however this
// process ends.
func toolCommand(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	return cmd
}

// child is a server started in a process group of its own, so that stopping it stops whatever
// it started too.
type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has exited
	err  error         // its exit status, once done is closed
	once sync.Once
}

func startChild(name string, cmd *exec.Cmd) *child {
	// Pdeathsig kills the child even if this process dies without running its cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		fatalf("starting %s: %v", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	atExit(c.stop)
	return c
}

// stop asks the process group to terminate (keyward drains and writes pending usage data on
// SIGTERM), then kills what is left of the group.
func (c *child) stop() {
	c.once.Do(func() {
		pgid := c.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(15 * time.Second):
			log.Printf("(%s did not stop in 15s after SIGTERM: killing it)", c.name)
		}
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-c.done
	})
}

// exited reports whether the process has ended.
func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

var listeningRE = regexp.MustCompile(`msg="keyward listening" addr=(\S+)`)

// keywardServer is `keyward serve` running as a child, logging to a file.
type keywardServer struct {
	*child
	url     string // http://127.0.0.1:port
	logPath string
}

// startKeyward runs `keyward serve` on a free loopback port with the data directory dir (and
// the PostgreSQL database dbURL unless empty). Its stdout and stderr are a plain file, as under
// systemd or a container runtime writing to disk: one write(2) per log line, paid by the
// request that logs it.
func startKeyward(bin, dir, dbURL, masterKeyFile string, cacheSize int) *keywardServer {
	logPath := filepath.Join(dir, "keyward.log")
	lf, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		fatalf("%v", err)
	}
	defer lf.Close() // the child has its own copy of the descriptor
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data", filepath.Join(dir, "data"),
		"--master-key-file", masterKeyFile, "--log-format", "text", "--log-level", "info",
		"--cache-size", fmt.Sprint(cacheSize)}
	if dbURL != "" {
		args = append(args, "--database", dbURL)
	}
	args = append(args, serveFlags...)
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = cleanEnv()
	s := &keywardServer{child: startChild("keyward serve", cmd), logPath: logPath}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		b, _ := os.ReadFile(logPath)
		if m := listeningRE.FindSubmatch(b); m != nil {
			s.url = "http://" + string(m[1])
			return s
		}
		if s.exited() {
			fatalf("keyward serve exited before listening (%v); its log:\n%s", s.err, tail(b, 2000))
		}
		if time.Now().After(deadline) {
			fatalf("keyward serve did not listen within 2 minutes; its log:\n%s", tail(b, 2000))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cleanEnv is this process's environment without KEYWARD_ variables, which would point the
// server at another database or master key than the run gives it.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KEYWARD_") {
			env = append(env, kv)
		}
	}
	return env
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// logLines counts the lines of the server's log file.
func logLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return -1
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		n++
	}
	return n
}

// startBare re-executes this program as the bare handler, in a process of its own like
// keyward's server, and returns it with its URL.
func startBare() (*child, string) {
	self, err := os.Executable()
	if err != nil {
		fatalf("%v", err)
	}
	cmd := exec.Command(self, "-serve-bare", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		fatalf("%v", err)
	}
	c := startChild("bare handler", cmd)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		fatalf("the bare handler did not say its address: %v", err)
	}
	return c, "http://" + strings.TrimSpace(line)
}

// serveBare is the bare handler's process: net/http answering 200 to everything after reading
// the body, which is what any Go HTTP service pays before doing its own work.
func serveBare(addr string) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	err = http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}

// serveFlags are -serve-flags: more flags for every keyward serve this run starts.
var serveFlags []string
