//go:build freebsd

// kqueue: the kevent filters and flags a FreeBSD program uses directly
// (Go's poller needs only read/write with EV_CLEAR): timers, user events,
// signals, process exit, EV_DISABLE/ENABLE/DELETE/ONESHOT/RECEIPT and
// EV_EOF.  Its output is a literal in tests/test_freebsd.py.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func kq() int {
	fd, err := syscall.Kqueue()
	if err != nil {
		panic(err)
	}
	return fd
}

func change(fd int, ev syscall.Kevent_t) error {
	_, err := syscall.Kevent(fd, []syscall.Kevent_t{ev}, nil, nil)
	return err
}

func wait(fd int, ms int64) []syscall.Kevent_t {
	out := make([]syscall.Kevent_t, 8)
	ts := syscall.NsecToTimespec(ms * 1e6)
	n, err := syscall.Kevent(fd, nil, out, &ts)
	if err != nil {
		panic(err)
	}
	return out[:n]
}

func show(what string, evs []syscall.Kevent_t) {
	fmt.Printf("%s:", what)
	for _, e := range evs {
		ident := fmt.Sprint(e.Ident)
		if e.Filter == syscall.EVFILT_READ {
			ident = "pipe" // a descriptor number, which may differ
		}
		fmt.Printf(" {ident=%s filter=%d eof=%v data=%d}", ident, e.Filter,
			e.Flags&syscall.EV_EOF != 0, e.Data)
	}
	fmt.Println()
}

func main() {
	if len(os.Args) > 1 {
		os.Exit(5)
	}
	fd := kq()

	// a pipe: readable once written, not while disabled, EOF once the writer closes
	var p [2]int
	if err := syscall.Pipe2(p[:], syscall.O_CLOEXEC); err != nil {
		panic(err)
	}
	read := syscall.Kevent_t{Ident: uint64(p[0]), Filter: syscall.EVFILT_READ, Flags: syscall.EV_ADD}
	change(fd, read)
	show("empty pipe", wait(fd, 10))
	syscall.Write(p[1], []byte("abc"))
	show("written", wait(fd, 10))
	read.Flags = syscall.EV_DISABLE
	change(fd, read)
	show("disabled", wait(fd, 10))
	read.Flags = syscall.EV_ENABLE
	change(fd, read)
	syscall.Close(p[1])
	show("writer closed", wait(fd, 10))
	read.Flags = syscall.EV_DELETE
	change(fd, read)
	show("deleted", wait(fd, 10))
	err := change(fd, read)
	fmt.Println("delete again:", err)
	receipt := read
	receipt.Flags = syscall.EV_DELETE | syscall.EV_RECEIPT
	out := make([]syscall.Kevent_t, 1)
	n, err := syscall.Kevent(fd, []syscall.Kevent_t{receipt}, out, nil)
	fmt.Println("receipt:", n, err, out[0].Flags&syscall.EV_ERROR != 0, syscall.Errno(out[0].Data))

	// timers: periodic, then one-shot
	start := time.Now()
	change(fd, syscall.Kevent_t{Ident: 7, Filter: syscall.EVFILT_TIMER, Flags: syscall.EV_ADD, Data: 20})
	ticks := 0
	for ticks < 3 {
		for _, e := range wait(fd, 1000) {
			if e.Ident == 7 {
				ticks += int(e.Data)
			}
		}
	}
	change(fd, syscall.Kevent_t{Ident: 7, Filter: syscall.EVFILT_TIMER, Flags: syscall.EV_DELETE})
	fmt.Println("timer ticks>=3:", ticks >= 3, "elapsed>=60ms:", time.Since(start) >= 60*time.Millisecond)
	change(fd, syscall.Kevent_t{Ident: 8, Filter: syscall.EVFILT_TIMER,
		Flags: syscall.EV_ADD | syscall.EV_ONESHOT, Data: 5})
	show("oneshot timer", wait(fd, 1000))
	show("oneshot again", wait(fd, 30))

	// a user event, triggered by a change
	change(fd, syscall.Kevent_t{Ident: 42, Filter: syscall.EVFILT_USER, Flags: syscall.EV_ADD | syscall.EV_CLEAR})
	show("user untriggered", wait(fd, 10))
	change(fd, syscall.Kevent_t{Ident: 42, Filter: syscall.EVFILT_USER, Fflags: syscall.NOTE_TRIGGER})
	show("user triggered", wait(fd, 10))

	// a signal, counted even though it is ignored
	signal.Ignore(syscall.SIGUSR2)
	change(fd, syscall.Kevent_t{Ident: uint64(syscall.SIGUSR2), Filter: syscall.EVFILT_SIGNAL, Flags: syscall.EV_ADD})
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	syscall.Kill(os.Getpid(), syscall.SIGUSR2)
	show("signals", wait(fd, 1000))

	// a child's exit, with its status
	child, err := os.StartProcess(os.Args[0], []string{os.Args[0], "child"}, &os.ProcAttr{})
	if err != nil {
		panic(err)
	}
	change(fd, syscall.Kevent_t{Ident: uint64(child.Pid), Filter: syscall.EVFILT_PROC,
		Flags: syscall.EV_ADD, Fflags: syscall.NOTE_EXIT})
	evs := wait(fd, 20000)
	for _, e := range evs {
		fmt.Printf("child exit: note_exit=%v eof=%v status=%d\n", e.Fflags&syscall.NOTE_EXIT != 0,
			e.Flags&syscall.EV_EOF != 0, syscall.WaitStatus(e.Data).ExitStatus())
	}
	state, _ := child.Wait()
	fmt.Println("waited:", state.ExitCode())
	syscall.Close(fd)

	// a syscall pyuser does not have: ENOSYS (and a line under -d unimp)
	_, _, errno := syscall.Syscall(syscall.SYS_JAIL, 0, 0, 0)
	fmt.Println("jail:", errno)
}
