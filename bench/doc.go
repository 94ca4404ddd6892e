// Package bench owns the transfer benchmarks of the remote client: upload
// and download through remote.Client against the emulator on loopback
// (transfer_test.go, `go test -bench . ./bench/`), and the comparison with
// curl (curl_compare.sh, which runs the programs in emuserve and curlcmp);
// peers.sh, syncd beside current rclone and curl on generated data sets, at
// loopback and behind delayproxy (a TCP proxy that adds a round trip),
// writing RESULTS.md.
package bench
