// ticker: time.Sleep and a time.Ticker loop; prints a fixed count.
package main

import (
	"fmt"
	"time"
)

func main() {
	start := time.Now()
	time.Sleep(30 * time.Millisecond)
	t := time.NewTicker(10 * time.Millisecond)
	n := 0
	for range t.C {
		n++
		if n == 5 {
			break
		}
	}
	t.Stop()
	elapsed := time.Since(start)
	fmt.Printf("ticks=%d elapsed>=70ms:%v\n", n, elapsed >= 70*time.Millisecond)
}
