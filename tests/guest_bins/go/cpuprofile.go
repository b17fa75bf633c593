// cpuprofile: a CPU profile of a busy loop.  Go samples with per-thread
// timers (timer_create with SIGEV_THREAD_ID, SIGPROF to the thread that
// runs); a profile that got samples names the function that burnt the time.
package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"runtime/pprof"
	"time"
)

var sink int

//go:noinline
func burn(deadline time.Time) {
	for time.Now().Before(deadline) {
		for i := 0; i < 100000; i++ {
			sink += i * i
		}
	}
}

func main() {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		panic(err)
	}
	burn(time.Now().Add(500 * time.Millisecond))
	pprof.StopCPUProfile()
	z, err := gzip.NewReader(&buf)
	if err != nil {
		panic(err)
	}
	raw, err := io.ReadAll(z)
	if err != nil {
		panic(err)
	}
	fmt.Printf("profile names main.burn: %v\n", bytes.Contains(raw, []byte("main.burn")))
}
