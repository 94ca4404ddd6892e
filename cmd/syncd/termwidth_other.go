//go:build !unix

package main

import "os"

// termWidth is the terminal's width in columns (0: unknown).
func termWidth(*os.File) int { return 0 }
