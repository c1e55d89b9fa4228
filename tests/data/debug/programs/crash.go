// Crashes the way regenerate.sh asks: crash index|nil|divide|map
package main

import (
	"fmt"
	"os"
	"sync"
)

type user struct{ name string }

func pick(items []int, at int) int { return items[at] }

func nameOf(u *user) string { return u.name }

func ratio(total, parts int) int { return total / parts }

func worker(id int, wg *sync.WaitGroup, ready chan<- int, block <-chan struct{}) {
	defer wg.Done()
	ready <- id
	<-block
}

func main() {
	kind := os.Args[1]
	fmt.Println("starting", kind)
	var wg sync.WaitGroup
	ready := make(chan int)
	block := make(chan struct{})
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go worker(i, &wg, ready, block)
		<-ready
	}
	switch kind {
	case "index":
		fmt.Println(pick([]int{1, 2, 3}, len(os.Args)+5))
	case "nil":
		var u *user
		fmt.Println(nameOf(u))
	case "divide":
		fmt.Println(ratio(10, len(os.Args)-2))
	default:
		var m map[string]int
		m["a"] = 1
	}
}
