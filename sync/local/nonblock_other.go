//go:build !unix

package local

const nonBlock = 0
