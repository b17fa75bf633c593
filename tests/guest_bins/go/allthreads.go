// allthreads: syscall.Setuid, which runs setuid on every OS thread of the
// process (syscall.AllThreadsSyscall: a signal to each thread, whose handler
// makes the call), while one thread is blocked in a read of a pipe.  The
// signal must interrupt that read (and the read go on after the handler).
package main

import (
	"fmt"
	"syscall"
	"time"
)

func main() {
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	got := make(chan int)
	go func() {
		buf := make([]byte, 1)
		n, err := syscall.Read(p[0], buf) // blocks in the host, on its own thread
		if err != nil {
			panic(err)
		}
		got <- n
	}()
	time.Sleep(100 * time.Millisecond)
	uid := syscall.Getuid()
	ok := 0
	for i := 0; i < 20; i++ {
		if err := syscall.Setuid(uid); err == nil {
			ok++
		}
	}
	if _, err := syscall.Write(p[1], []byte("x")); err != nil {
		panic(err)
	}
	fmt.Printf("setuid=%d/20 read=%d\n", ok, <-got)
}
