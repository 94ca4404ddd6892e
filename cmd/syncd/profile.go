package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
)

// startProfiles starts the profiles that SYNCD_CPUPROFILE and
// SYNCD_MEMPROFILE name (files; undocumented, for developers measuring a
// command as it really runs: a benchmark in-process cannot show the
// emulator's and the client's costs apart). The returned stop writes them.
func startProfiles(stderr io.Writer) (stop func()) {
	cpuPath, memPath := os.Getenv("SYNCD_CPUPROFILE"), os.Getenv("SYNCD_MEMPROFILE")
	if cpuPath == "" && memPath == "" {
		return func() {}
	}
	var cpu *os.File
	if cpuPath != "" {
		f, err := os.Create(cpuPath)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintf(stderr, "syncd: SYNCD_CPUPROFILE: %v\n", err)
		} else {
			cpu = f
		}
	}
	if memPath != "" {
		runtime.MemProfileRate = 64 << 10
	}
	return func() {
		if cpu != nil {
			pprof.StopCPUProfile()
			cpu.Close()
		}
		if memPath != "" {
			f, err := os.Create(memPath)
			if err == nil {
				err = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
			if err != nil {
				fmt.Fprintf(stderr, "syncd: SYNCD_MEMPROFILE: %v\n", err)
			}
		}
	}
}
