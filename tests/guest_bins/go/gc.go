// gc: allocation churn with runtime.GC under load from several goroutines.
package main

import (
	"fmt"
	"runtime"
	"sync"
)

type node struct {
	next *node
	data [64]byte
}

func main() {
	runtime.GOMAXPROCS(4)
	var wg sync.WaitGroup
	sums := make([]int, 4)
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(id int) {
			defer wg.Done()
			for round := 0; round < 20; round++ {
				var head *node
				for i := 0; i < 2000; i++ {
					head = &node{next: head}
					head.data[0] = byte(i)
				}
				for n := head; n != nil; n = n.next {
					sums[id] += int(n.data[0])
				}
				if round%5 == 0 {
					runtime.GC()
				}
			}
		}(g)
	}
	wg.Wait()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("sums=%v gc_ran=%v\n", sums, ms.NumGC > 0)
}
