// bsdabi: one Go program whose output is the same on every OS Go supports;
// run as a FreeBSD program under pyuser and natively as its Linux build, it
// checks files, directories, pipes, goroutines, timers, signals, a TCP echo,
// subprocesses, the environment and the exit status.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

func check(err error) {
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
}

func files() {
	dir, err := os.MkdirTemp("", "bsdabi")
	check(err)
	defer os.RemoveAll(dir)
	name := filepath.Join(dir, "a.txt")
	check(os.WriteFile(name, []byte("hello files\n"), 0o640))
	data, err := os.ReadFile(name)
	check(err)
	info, err := os.Stat(name)
	check(err)
	fmt.Printf("files: %q size=%d mode=%v\n", data, info.Size(), info.Mode())
	f, err := os.OpenFile(name, os.O_APPEND|os.O_WRONLY, 0)
	check(err)
	_, err = f.WriteString("more\n")
	check(err)
	check(f.Close())
	check(os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	for i := 0; i < 40; i++ {
		check(os.WriteFile(filepath.Join(dir, "sub", fmt.Sprintf("file-with-a-long-name-%02d", i)), nil, 0o600))
	}
	check(os.Symlink("a.txt", filepath.Join(dir, "link")))
	check(os.Rename(name, filepath.Join(dir, "b.txt")))
	entries, err := os.ReadDir(dir)
	check(err)
	var names []string
	for _, e := range entries {
		names = append(names, fmt.Sprintf("%s:%v", e.Name(), e.IsDir()))
	}
	sub, err := os.ReadDir(filepath.Join(dir, "sub"))
	check(err)
	target, err := os.Readlink(filepath.Join(dir, "link"))
	check(err)
	_, err = os.Stat(filepath.Join(dir, "link"))
	fmt.Printf("dirs: %v sub=%d link=%s dangling=%v\n", names, len(sub), target, errors.Is(err, os.ErrNotExist))
	data, err = os.ReadFile(filepath.Join(dir, "b.txt"))
	check(err)
	fmt.Printf("appended: %q\n", data)
}

func pipes() {
	r, w, err := os.Pipe()
	check(err)
	go func() {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "line %d\n", i)
		}
		w.Close()
	}()
	all, err := io.ReadAll(r)
	check(err)
	fmt.Printf("pipe: %q\n", all)
}

func goroutines() {
	runtime.GOMAXPROCS(4)
	results := make(chan int)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			sum := 0
			for i := 0; i < 200000; i++ {
				sum += i % (g + 3)
			}
			results <- sum
		}(g)
	}
	go func() { wg.Wait(); close(results) }()
	total := 0
	for s := range results {
		total += s
	}
	var mu sync.Mutex
	counter := 0
	var wg2 sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			for i := 0; i < 1000; i++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
		}()
	}
	wg2.Wait()
	fmt.Printf("goroutines: total=%d counter=%d\n", total, counter)
}

func timers() {
	start := time.Now()
	time.Sleep(30 * time.Millisecond)
	<-time.After(20 * time.Millisecond)
	ticker := time.NewTicker(10 * time.Millisecond)
	for i := 0; i < 3; i++ {
		<-ticker.C
	}
	ticker.Stop()
	timer := time.NewTimer(time.Hour)
	stopped := timer.Stop()
	fmt.Printf("timers: elapsed>=80ms:%v stopped=%v\n", time.Since(start) >= 80*time.Millisecond, stopped)
}

func signals() {
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGUSR1)
	check(syscall.Kill(os.Getpid(), syscall.SIGUSR1))
	select {
	case s := <-c:
		fmt.Println("signal:", s)
	case <-time.After(10 * time.Second):
		fmt.Println("signal: timeout")
	}
	signal.Stop(c)
	defer func() {
		fmt.Println("recovered:", recover())
	}()
	var p *struct{ x int }
	fmt.Println(p.x)
}

func echo() {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() {
		conn, err := ln.Accept()
		check(err)
		io.Copy(conn, conn)
		conn.Close()
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	check(err)
	r := bufio.NewReader(conn)
	var got []string
	for i := 0; i < 3; i++ {
		fmt.Fprintf(conn, "ping %d\n", i)
		line, err := r.ReadString('\n')
		check(err)
		got = append(got, strings.TrimSpace(line))
	}
	conn.(*net.TCPConn).CloseWrite()
	_, err = r.ReadString('\n')
	fmt.Printf("tcp: %v eof=%v\n", got, err == io.EOF)
	conn.Close()
	ln.Close()
}

func subprocesses() {
	out, err := exec.Command(os.Args[0], "child", "a b", "c").Output()
	check(err)
	fmt.Printf("exec: %q\n", out)
	err = exec.Command(os.Args[0], "exit3").Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		fmt.Println("exec: child status", exitErr.ExitCode())
	} else {
		fmt.Println("exec: unexpected", err)
	}
	cmd := exec.Command(os.Args[0], "cat")
	cmd.Stdin = strings.NewReader("through stdin\n")
	out, err = cmd.Output()
	check(err)
	fmt.Printf("exec: cat %q\n", out)
}

func unixRights() {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	check(err)
	r, w, err := os.Pipe()
	check(err)
	check(syscall.Sendmsg(fds[0], []byte("fd"), syscall.UnixRights(int(w.Fd())), nil, 0))
	w.Close()
	buf := make([]byte, 16)
	oob := make([]byte, 64)
	n, oobn, _, _, err := syscall.Recvmsg(fds[1], buf, oob, 0)
	check(err)
	msgs, err := syscall.ParseSocketControlMessage(oob[:oobn])
	check(err)
	passed, err := syscall.ParseUnixRights(&msgs[0])
	check(err)
	syscall.Write(passed[0], []byte("through a passed descriptor\n"))
	syscall.Close(passed[0])
	got, err := io.ReadAll(r)
	check(err)
	fmt.Printf("unix: %q rights=%d %q\n", buf[:n], len(passed), got)
}

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "child":
			fmt.Printf("child args=%q env=%s\n", os.Args[2:], os.Getenv("BSDABI_VALUE"))
			return
		case "exit3":
			os.Exit(3)
		case "cat":
			io.Copy(os.Stdout, os.Stdin)
			return
		case "hello":
			fmt.Println("hello")
			return
		}
	}
	fmt.Println("env:", os.Getenv("BSDABI_VALUE"))
	host, err := os.Hostname()
	check(err)
	wd, err := os.Getwd()
	check(err)
	exe, err := os.Executable()
	check(err)
	fmt.Println("system:", host, filepath.Base(wd), os.Getuid(), os.Getgid(), runtime.NumCPU(),
		os.Getpagesize(), strings.HasPrefix(filepath.Base(exe), "bsdabi-"))
	sections := map[string]func(){"files": files, "pipes": pipes, "goroutines": goroutines,
		"timers": timers, "signals": signals, "tcp": echo, "exec": subprocesses,
		"unix": unixRights}
	var order []string
	for name := range sections {
		order = append(order, name)
	}
	sort.Strings(order)
	if len(os.Args) > 2 && os.Args[1] == "only" {
		order = os.Args[2:]
	}
	for _, name := range order {
		sections[name]()
	}
	os.Exit(7)
}
